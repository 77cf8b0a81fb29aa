"""The case-event contract's coded values: what data is about, why it is shared and on what
basis, who is who, and the programmes' and national returns' codes.

Each is a ``StrEnum`` whose values are the Avro enum's symbols in
``schemas/avro/case_event.avsc`` (``tests/unit/test_events_contract.py`` proves they agree). The
policy, the folds and the reports decide on these values; the payloads
(:mod:`hub.payloads`) and the envelope (:mod:`hub.events`) carry them.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Final


class DataCategory(StrEnum):
    DEMOGRAPHICS = "DEMOGRAPHICS"
    APPOINTMENTS = "APPOINTMENTS"
    MATERNITY = "MATERNITY"
    PRACTITIONER_ALLOCATION = "PRACTITIONER_ALLOCATION"
    SOCIAL_CARE_PLANS = "SOCIAL_CARE_PLANS"
    SAFEGUARDING = "SAFEGUARDING"
    MENTAL_HEALTH = "MENTAL_HEALTH"
    SUBSTANCE_USE = "SUBSTANCE_USE"
    DOMESTIC_ABUSE = "DOMESTIC_ABUSE"
    ASSESSMENT_SCORES = "ASSESSMENT_SCORES"


class LawfulBasis(StrEnum):
    """The basis a disclosure rests on (UK GDPR Art 6, with an Art 9 condition where needed)."""

    CONTROLLER = "CONTROLLER"  # the organisation reads its own record: not a disclosure to others
    PUBLIC_TASK = "PUBLIC_TASK"  # Art 6(1)(e), Art 9(2)(h): direct care by statutory services
    CONSENT = "CONSENT"  # Art 6(1)(a) / 9(2)(a): the parent's explicit, recorded consent
    SAFEGUARDING = "SAFEGUARDING"  # DPA 2018 Sch 1 para 18: override, child at risk


class Purpose(StrEnum):
    """Why data is shared; the data-sharing agreement names a lawful basis per purpose."""

    DIRECT_CARE = "DIRECT_CARE"
    SAFEGUARDING = "SAFEGUARDING"
    SERVICE_EVALUATION = "SERVICE_EVALUATION"


class Relationship(StrEnum):
    """What the related person is to the subject of a RELATIONSHIP_RECORDED event."""

    MOTHER = "MOTHER"
    FATHER_OR_PARTNER = "FATHER_OR_PARTNER"
    UNBORN_CHILD = "UNBORN_CHILD"
    CHILD = "CHILD"
    SIBLING = "SIBLING"
    GRANDPARENT = "GRANDPARENT"


class OverrideReason(StrEnum):
    """Why consent was overridden (Working Together to Safeguard Children; DPA 2018 Sch 1 p18)."""

    RISK_OF_SIGNIFICANT_HARM = "RISK_OF_SIGNIFICANT_HARM"
    SECTION_47_ENQUIRY = "SECTION_47_ENQUIRY"
    PRE_BIRTH_CONCERN = "PRE_BIRTH_CONCERN"
    EMERGENCY_PROTECTION = "EMERGENCY_PROTECTION"


class Sensitivity(StrEnum):
    ROUTINE = "ROUTINE"
    SPECIAL_CATEGORY = "SPECIAL_CATEGORY"
    RESTRICTED = "RESTRICTED"


class PractitionerRole(StrEnum):
    COMMUNITY_MIDWIFE = "COMMUNITY_MIDWIFE"
    PROGRAMME_MIDWIFE = "PROGRAMME_MIDWIFE"
    SPECIALIST_MIDWIFE = "SPECIALIST_MIDWIFE"
    SAFEGUARDING_MIDWIFE = "SAFEGUARDING_MIDWIFE"
    HEALTH_VISITOR = "HEALTH_VISITOR"
    GP = "GP"
    SOCIAL_WORKER = "SOCIAL_WORKER"
    LEAD_PRACTITIONER = "LEAD_PRACTITIONER"
    KEY_WORKER = "KEY_WORKER"
    OTHER = "OTHER"
    CONSULTANT = "CONSULTANT"


MIDWIFE_ROLES: Final = frozenset(
    {
        PractitionerRole.COMMUNITY_MIDWIFE,
        PractitionerRole.PROGRAMME_MIDWIFE,
        PractitionerRole.SPECIALIST_MIDWIFE,
    }
)


class PlanType(StrEnum):
    """The statutory and early-help plans a child can be on (Children Act 1989 s17, s47, s20/31)."""

    EARLY_HELP = "EARLY_HELP"
    CHILD_IN_NEED = "CHILD_IN_NEED"
    CHILD_PROTECTION = "CHILD_PROTECTION"
    LOOKED_AFTER = "LOOKED_AFTER"


class Jurisdiction(StrEnum):
    """Whose law and guidance a plan or register is under (ADR 0032): one event contract serves
    England and Wales, and a Welsh fact keeps its Welsh name (``local_name``) and statute."""

    ENGLAND = "ENGLAND"
    WALES = "WALES"


class AssessmentType(StrEnum):
    SINGLE_ASSESSMENT = "SINGLE_ASSESSMENT"
    CONTINUOUS_ASSESSMENT = "CONTINUOUS_ASSESSMENT"
    PRE_BIRTH = "PRE_BIRTH"
    SECTION_47 = "SECTION_47"
    EARLY_HELP = "EARLY_HELP"


class ScoreInstrument(StrEnum):
    """Validated outcome measures the programmes report (special-category health data)."""

    SDQ = "SDQ"
    WEMWBS = "WEMWBS"
    SWEMWBS = "SWEMWBS"


class ScoreStage(StrEnum):
    """When in a programme a measure was taken: paired entry and exit scores show change."""

    ENTRY = "ENTRY"
    REVIEW = "REVIEW"
    EXIT = "EXIT"


class Characteristic(StrEnum):
    """A parent's or family's circumstance at referral, as the programmes' evaluations counted
    them (TBCP, Strengthening Families, Baby and Me): each is special-category or otherwise
    sensitive, so each is recorded with its lawful basis (:class:`CharacteristicRecord`)."""

    CARE_EXPERIENCED = "CARE_EXPERIENCED"
    PREVIOUS_CHILD_REMOVED = "PREVIOUS_CHILD_REMOVED"
    PREVIOUS_CARE_PROCEEDINGS = "PREVIOUS_CARE_PROCEEDINGS"
    DOMESTIC_ABUSE = "DOMESTIC_ABUSE"
    MENTAL_ILL_HEALTH = "MENTAL_ILL_HEALTH"
    SUBSTANCE_MISUSE = "SUBSTANCE_MISUSE"
    LEARNING_DISABILITY = "LEARNING_DISABILITY"
    INSECURE_HOUSING = "INSECURE_HOUSING"
    SOCIAL_ISOLATION = "SOCIAL_ISOLATION"
    OTHER = "OTHER"


class EthnicCategory(StrEnum):
    """The NHS Data Dictionary's ethnic category (the ONS 2001 census categories, codes A-Z).

    :func:`ethnic_group` folds them into the five ONS groups the reports break down by (fewer,
    larger cells survive disclosure control)."""

    WHITE_BRITISH = "A"
    WHITE_IRISH = "B"
    WHITE_OTHER = "C"
    MIXED_WHITE_BLACK_CARIBBEAN = "D"
    MIXED_WHITE_BLACK_AFRICAN = "E"
    MIXED_WHITE_ASIAN = "F"
    MIXED_OTHER = "G"
    ASIAN_INDIAN = "H"
    ASIAN_PAKISTANI = "J"
    ASIAN_BANGLADESHI = "K"
    ASIAN_OTHER = "L"
    BLACK_CARIBBEAN = "M"
    BLACK_AFRICAN = "N"
    BLACK_OTHER = "P"
    CHINESE = "R"
    OTHER = "S"
    NOT_STATED = "Z"


_ETHNIC_GROUPS: Final = {
    **dict.fromkeys("ABC", "White"),
    **dict.fromkeys("DEFG", "Mixed"),
    **dict.fromkeys("HJKLR", "Asian"),
    **dict.fromkeys("MNP", "Black"),
}


def ethnic_group(category: EthnicCategory | None) -> str:
    """The ONS five-group classification of an NHS ethnic category (Chinese is in Asian, as in
    the 2021 census); "Not stated" for none."""
    if category is None or category is EthnicCategory.NOT_STATED:
        return "Not stated"
    return _ETHNIC_GROUPS.get(category.value, "Other")


class ProgrammeActivity(StrEnum):
    """A milestone of a programme episode that the monitoring counts."""

    FIRST_CONTACT = "FIRST_CONTACT"
    FAMILY_GROUP_CONFERENCE_OFFERED = "FAMILY_GROUP_CONFERENCE_OFFERED"
    FAMILY_GROUP_CONFERENCE_HELD = "FAMILY_GROUP_CONFERENCE_HELD"
    DADS_WORKER_INVOLVED = "DADS_WORKER_INVOLVED"
    OTHER = "OTHER"


class ExitReason(StrEnum):
    COMPLETED = "COMPLETED"
    DISENGAGED = "DISENGAGED"
    MOVED_AWAY = "MOVED_AWAY"
    STEPPED_UP = "STEPPED_UP"  # to statutory children's social care
    CHILD_REMOVED = "CHILD_REMOVED"
    OTHER = "OTHER"


class PermanenceOutcome(StrEnum):
    """Where a looked-after child's care went (SSDA903 reasons episode ceased, in short)."""

    RETURNED_HOME = "RETURNED_HOME"
    PLACED_FOR_ADOPTION = "PLACED_FOR_ADOPTION"
    EARLY_PERMANENCE = "EARLY_PERMANENCE"  # fostering for adoption / concurrent planning
    SPECIAL_GUARDIANSHIP = "SPECIAL_GUARDIANSHIP"
    OTHER = "OTHER"


class AssignmentScope(StrEnum):
    PERSON = "PERSON"
    FAMILY = "FAMILY"
