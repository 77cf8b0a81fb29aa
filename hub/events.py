"""The case-event contract as typed Python values.

``schemas/avro/case_event.avsc`` is the wire contract partners build against; these pydantic
models mirror it field for field so the functional core works with typed, immutable values
rather than dicts. ``tests/unit/test_events_contract.py`` proves the two agree (same fields,
same optionality, and every model round-trips through fastavro).

The envelope's ``event_type`` is the discriminator of the payload union: Avro cannot tell
``AppointmentAttended`` from ``AppointmentMissed`` by shape alone, so neither do we.
"""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime
from enum import StrEnum
from typing import Any, Final

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, SkipValidation, model_validator

SCHEMA_VERSION: Final = 1
NHS_NUMBER_SYSTEM: Final = "https://fhir.nhs.uk/Id/nhs-number"

# Namespace for deterministic (UUIDv5) ids: the same source record always yields the same
# event id, so a re-sent message is recognised downstream instead of raising a second alert.
EVENT_ID_NAMESPACE: Final = uuid.UUID("6f1d2b9e-3c55-5a7e-9a43-2f0c8d1e7b21")


class FrozenModel(BaseModel):
    """Immutable, and unknown fields are errors: the base of every value the hub passes around."""

    model_config = ConfigDict(frozen=True, extra="forbid")


class EventType(StrEnum):
    PERSON_REGISTERED = "PERSON_REGISTERED"
    APPOINTMENT_BOOKED = "APPOINTMENT_BOOKED"
    APPOINTMENT_CANCELLED = "APPOINTMENT_CANCELLED"
    APPOINTMENT_ATTENDED = "APPOINTMENT_ATTENDED"
    APPOINTMENT_MISSED = "APPOINTMENT_MISSED"
    PRACTITIONER_ASSIGNED = "PRACTITIONER_ASSIGNED"
    APPOINTMENT_RESCHEDULED = "APPOINTMENT_RESCHEDULED"
    APPOINTMENT_MODIFIED = "APPOINTMENT_MODIFIED"
    PERSON_MERGED = "PERSON_MERGED"
    PERSON_UNMERGED = "PERSON_UNMERGED"
    RELATIONSHIP_RECORDED = "RELATIONSHIP_RECORDED"
    BIRTH_REGISTERED = "BIRTH_REGISTERED"
    CONSENT_RECORDED = "CONSENT_RECORDED"
    CONSENT_WITHDRAWN = "CONSENT_WITHDRAWN"
    SAFEGUARDING_OVERRIDE_RECORDED = "SAFEGUARDING_OVERRIDE_RECORDED"
    SAFEGUARDING_OVERRIDE_ENDED = "SAFEGUARDING_OVERRIDE_ENDED"
    REFERRAL_RECEIVED = "REFERRAL_RECEIVED"
    ASSESSMENT_COMPLETED = "ASSESSMENT_COMPLETED"
    PLAN_STARTED = "PLAN_STARTED"
    PLAN_ENDED = "PLAN_ENDED"
    CASE_CLOSED = "CASE_CLOSED"
    PROGRAMME_REFERRAL_ACCEPTED = "PROGRAMME_REFERRAL_ACCEPTED"
    PROGRAMME_PROGRESS = "PROGRAMME_PROGRESS"
    ASSESSMENT_SCORE_RECORDED = "ASSESSMENT_SCORE_RECORDED"
    ALERT_ACKNOWLEDGED = "ALERT_ACKNOWLEDGED"
    ALERT_CLOSED = "ALERT_CLOSED"
    ALERT_ESCALATED = "ALERT_ESCALATED"
    PRACTITIONER_UNASSIGNED = "PRACTITIONER_UNASSIGNED"
    # programme monitoring and outcomes (issue 20, ADR 0031)
    CHARACTERISTICS_RECORDED = "CHARACTERISTICS_RECORDED"
    PROGRAMME_REFERRAL_DECLINED = "PROGRAMME_REFERRAL_DECLINED"
    PROGRAMME_PATHWAY_CHANGED = "PROGRAMME_PATHWAY_CHANGED"
    PROGRAMME_ACTIVITY_RECORDED = "PROGRAMME_ACTIVITY_RECORDED"
    PROGRAMME_EXITED = "PROGRAMME_EXITED"
    PERMANENCE_RECORDED = "PERMANENCE_RECORDED"


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


class Source(FrozenModel):
    system: str = Field(min_length=1)
    organisation_code: str = Field(min_length=1)


class PersonIdentifier(FrozenModel):
    system: str = Field(min_length=1)
    value: str = Field(min_length=1)

    def key(self) -> str:
        """The key projections and the person index use: the NHS number, or ``system|value``
        (qualified, so two systems' ``12345`` never collide)."""
        if self.system == NHS_NUMBER_SYSTEM:
            return self.value
        return f"{self.system}|{self.value}"


class Appointment(FrozenModel):
    appointment_id: str = Field(min_length=1)
    start: AwareDatetime
    end: AwareDatetime | None = None
    service_type: str | None = None
    description: str | None = None
    location: str | None = None
    practitioner_ids: tuple[str, ...] = ()


class PersonRegistered(FrozenModel):
    """``language`` is the person's preferred language as the source records it (a BCP 47 tag
    such as ``cy`` or ``en`` where the source's codes are mapped: FHIR
    ``Patient.communication.language``, HL7 PID-15): what anything addressed to them is in."""

    given_name: str | None = None
    family_name: str | None = None
    birth_date: date | None = None
    postcode: str | None = None
    language: str | None = None


class AppointmentBooked(FrozenModel):
    appointment: Appointment


class AppointmentCancelled(FrozenModel):
    appointment: Appointment
    reason: str | None = None


class AppointmentAttended(FrozenModel):
    appointment: Appointment


class AppointmentMissed(FrozenModel):
    appointment: Appointment
    inferred: bool = False  # the hub inferred it: start + grace passed with no outcome


class PractitionerAssigned(FrozenModel):
    practitioner_id: str = Field(min_length=1)
    name: str
    role: PractitionerRole
    organisation_code: str
    contact: str | None = None
    scope: AssignmentScope


class PractitionerUnassigned(FrozenModel):
    """A practitioner left the team around a person or family in a role (HL7 ROL-2 ``DE``, a
    FHIR CareTeam participant whose period ended, an unassignment through the API).

    The practitioner is ``(organisation_code, practitioner_id)``, as in
    :class:`PractitionerAssigned`; alerts raised after it are no longer addressed to them
    (those already sent stay sent: whoever was told stays told).
    """

    practitioner_id: str = Field(min_length=1)
    organisation_code: str = Field(min_length=1)
    role: PractitionerRole
    scope: AssignmentScope
    reason: str | None = None


class AppointmentRescheduled(FrozenModel):
    appointment: Appointment
    previous_start: AwareDatetime | None = None


class AppointmentModified(FrozenModel):
    appointment: Appointment


class PersonMerged(FrozenModel):
    merged: tuple[PersonIdentifier, ...]


class PersonUnmerged(FrozenModel):
    """A merge was undone (HL7 ADT^A37): ``separated`` no longer mean the subject."""

    separated: tuple[PersonIdentifier, ...]


class RelationshipRecorded(FrozenModel):
    """``related`` is the subject's ``relationship`` (an unborn child is known by its EDD)."""

    related: tuple[PersonIdentifier, ...] = Field(min_length=1)
    relationship: Relationship
    expected_delivery_date: date | None = None


class BirthRegistered(FrozenModel):
    """The subject (the baby, with its own NHS number) was born to ``mother``."""

    mother: tuple[PersonIdentifier, ...] = Field(min_length=1)
    birth_date: date


class ConsentRecorded(FrozenModel):
    """The subject consented to sharing ``categories`` with ``recipients`` for ``purposes``."""

    consent_id: str = Field(min_length=1)
    recipients: tuple[str, ...] = Field(min_length=1)
    categories: tuple[DataCategory, ...] = Field(min_length=1)
    purposes: tuple[Purpose, ...] = Field(min_length=1)
    recorded_by: str = Field(min_length=1)
    expires_at: AwareDatetime | None = None
    recorded_by_organisation: str | None = None  # None in older events: the source's


class ConsentWithdrawn(FrozenModel):
    """Consent withdrawn: one consent (``consent_id``) or all; empty lists mean every one."""

    consent_id: str | None = None
    recipients: tuple[str, ...] = ()
    categories: tuple[DataCategory, ...] = ()
    recorded_by: str = Field(min_length=1)
    recorded_by_organisation: str | None = None  # None in older events: the source's


class SafeguardingOverrideRecorded(FrozenModel):
    """Share without consent because a child is at risk: only as stated, only until expiry."""

    override_id: str = Field(min_length=1)
    recorded_by: str = Field(min_length=1)
    recorded_by_organisation: str = Field(min_length=1)
    reason_code: OverrideReason
    reason: str | None = None
    recipients: tuple[str, ...] = Field(min_length=1)
    categories: tuple[DataCategory, ...] = Field(min_length=1)
    expires_at: AwareDatetime


class SafeguardingOverrideEnded(FrozenModel):
    """An override ended before its expiry (on review)."""

    override_id: str = Field(min_length=1)
    ended_by: str = Field(min_length=1)
    ended_by_organisation: str | None = None  # None in older events: the source's


class ReferralReceived(FrozenModel):
    """A referral to a service (children's social care, early help, a programme) arrived.

    For a programme, ``service`` is the programme; ``expected_delivery_date`` tells how far
    into the pregnancy the referral came (None in older events and post-birth referrals)."""

    referral_id: str = Field(min_length=1)
    service: str = Field(min_length=1)
    referral_source: str | None = None
    primary_need: str | None = None
    pathway: str | None = None
    expected_delivery_date: date | None = None


class AssessmentCompleted(FrozenModel):
    """An assessment was completed (authorised); a pre-birth one is about an unborn child."""

    assessment_id: str = Field(min_length=1)
    assessment_type: AssessmentType
    started_on: date | None = None
    completed_on: date
    factors: tuple[str, ...] = ()


class PlanStarted(FrozenModel):
    """A child went onto a plan; ``category`` is e.g. the category of abuse or legal status.

    ``plan_type`` is the shared meaning every projection reads; ``jurisdiction``, ``local_name``
    and ``statute`` say what the source calls it and under which law (a Welsh registration on
    the Child Protection Register is ``CHILD_PROTECTION`` in Wales, under the Wales
    Safeguarding Procedures). Absent in events written before them (England's returns)."""

    plan_id: str = Field(min_length=1)
    plan_type: PlanType
    started_on: date
    category: str | None = None
    jurisdiction: Jurisdiction | None = None
    local_name: str | None = None
    statute: str | None = None


class PlanEnded(FrozenModel):
    """A plan ended (a Welsh de-registration from the Child Protection Register, say)."""

    plan_id: str = Field(min_length=1)
    plan_type: PlanType
    ended_on: date
    reason: str | None = None
    jurisdiction: Jurisdiction | None = None
    local_name: str | None = None
    statute: str | None = None


class CaseClosed(FrozenModel):
    """The service closed its involvement (e.g. CIN closure with its reason code)."""

    case_id: str = Field(min_length=1)
    closed_on: date
    reason: str | None = None


class ProgrammeReferralAccepted(FrozenModel):
    """Accepted onto a programme (e.g. Strengthening Families) and, where it has them, a pathway."""

    referral_id: str = Field(min_length=1)
    programme: str = Field(min_length=1)
    pathway: str | None = None
    accepted_on: date


class ProgrammeProgress(FrozenModel):
    """Where a person is in a (group) programme: sessions attended so far, and whether done."""

    programme: str = Field(min_length=1)
    sessions_attended: int = Field(ge=0)
    sessions_planned: int | None = Field(default=None, ge=0)
    stage: str | None = None
    completed: bool = False
    referral_id: str | None = None  # the episode; None in older events: the programme's latest


class AssessmentScoreRecorded(FrozenModel):
    """A validated measure's total score (SDQ 0-40, WEMWBS 14-70, SWEMWBS 7-35)."""

    instrument: ScoreInstrument
    score: int
    measured_on: date
    respondent: str | None = None
    stage: ScoreStage | None = None  # None in older events: first and last in the episode
    programme: str | None = None


class AlertAcknowledged(FrozenModel):
    """A recipient has seen a missed-appointment alert and owns the follow-up.

    Acknowledging is an event on the log, not a row update, so a projection rebuilt from the
    log has the same acknowledgements as the live one.
    """

    alert_id: uuid.UUID
    by: str = Field(min_length=1)
    note: str | None = None
    by_organisation: str | None = None  # None in older events: the source's (hub.practitioners)


class AlertClosed(FrozenModel):
    alert_id: uuid.UUID
    by: str = Field(min_length=1)
    reason: str = Field(min_length=1)
    by_organisation: str | None = None  # None in older events: the source's (hub.practitioners)


class AlertEscalated(FrozenModel):
    """Escalated because it went unacknowledged too long (a timer's decision, put on the log)."""

    alert_id: uuid.UUID
    reason: str = Field(min_length=1)


class CharacteristicRecord(FrozenModel):
    """One characteristic and the lawful basis it is held on (UK GDPR Art 6 with Art 9)."""

    characteristic: Characteristic
    lawful_basis: LawfulBasis


class CharacteristicsRecorded(FrozenModel):
    """A family member's characteristics at referral, IFMIS-style: circumstances with their
    lawful basis, risk factors and strengths, and ethnicity (special category: its basis too).

    A later record for the same person and referral replaces the earlier one."""

    referral_id: str | None = None
    recorded_on: date
    member: str | None = None  # e.g. MOTHER, FATHER_OR_PARTNER, CHILD (IFMIS: per member)
    characteristics: tuple[CharacteristicRecord, ...] = ()
    risk_factors: tuple[str, ...] = ()
    strengths: tuple[str, ...] = ()
    ethnicity: EthnicCategory | None = None
    ethnicity_basis: LawfulBasis | None = None

    @model_validator(mode="after")
    def _ethnicity_has_a_basis(self) -> CharacteristicsRecorded:
        if self.ethnicity is not None and self.ethnicity_basis is None:
            raise ValueError("ethnicity is special-category data: give its ethnicity_basis")
        return self


class ProgrammeReferralDeclined(FrozenModel):
    """A referral to a programme was not taken up: declined by the family or not accepted."""

    referral_id: str = Field(min_length=1)
    programme: str = Field(min_length=1)
    declined_on: date
    declined_by: str | None = None  # FAMILY or PROGRAMME
    reason: str | None = None


class ProgrammePathwayChanged(FrozenModel):
    """An episode moved pathway (Strengthening Families: B pre-birth to C post-birth, B to A)."""

    referral_id: str = Field(min_length=1)
    programme: str = Field(min_length=1)
    from_pathway: str | None = None
    to_pathway: str = Field(min_length=1)
    changed_on: date


class ProgrammeActivityRecorded(FrozenModel):
    """A milestone of an episode: first contact, a Family Group Conference, a dad's worker."""

    referral_id: str = Field(min_length=1)
    programme: str = Field(min_length=1)
    activity: ProgrammeActivity
    occurred_on: date


class ProgrammeExited(FrozenModel):
    """The family left the programme, with the reason."""

    referral_id: str = Field(min_length=1)
    programme: str = Field(min_length=1)
    exited_on: date
    reason: ExitReason
    detail: str | None = None


class PermanenceRecorded(FrozenModel):
    """Where a child's care went: home to the parents, placed for adoption, early permanence."""

    outcome: PermanenceOutcome
    recorded_on: date
    plan_id: str | None = None


Payload = (
    PersonRegistered
    | AppointmentBooked
    | AppointmentCancelled
    | AppointmentAttended
    | AppointmentMissed
    | PractitionerAssigned
    | AppointmentRescheduled
    | AppointmentModified
    | PersonMerged
    | PersonUnmerged
    | RelationshipRecorded
    | BirthRegistered
    | ConsentRecorded
    | ConsentWithdrawn
    | SafeguardingOverrideRecorded
    | SafeguardingOverrideEnded
    | ReferralReceived
    | AssessmentCompleted
    | PlanStarted
    | PlanEnded
    | CaseClosed
    | ProgrammeReferralAccepted
    | ProgrammeProgress
    | AssessmentScoreRecorded
    | AlertAcknowledged
    | AlertClosed
    | AlertEscalated
    | PractitionerUnassigned
    | CharacteristicsRecorded
    | ProgrammeReferralDeclined
    | ProgrammePathwayChanged
    | ProgrammeActivityRecorded
    | ProgrammeExited
    | PermanenceRecorded
)

PAYLOAD_TYPES: Final[dict[EventType, type[BaseModel]]] = {
    EventType.PERSON_REGISTERED: PersonRegistered,
    EventType.APPOINTMENT_BOOKED: AppointmentBooked,
    EventType.APPOINTMENT_CANCELLED: AppointmentCancelled,
    EventType.APPOINTMENT_ATTENDED: AppointmentAttended,
    EventType.APPOINTMENT_MISSED: AppointmentMissed,
    EventType.PRACTITIONER_ASSIGNED: PractitionerAssigned,
    EventType.APPOINTMENT_RESCHEDULED: AppointmentRescheduled,
    EventType.APPOINTMENT_MODIFIED: AppointmentModified,
    EventType.PERSON_MERGED: PersonMerged,
    EventType.PERSON_UNMERGED: PersonUnmerged,
    EventType.RELATIONSHIP_RECORDED: RelationshipRecorded,
    EventType.BIRTH_REGISTERED: BirthRegistered,
    EventType.CONSENT_RECORDED: ConsentRecorded,
    EventType.CONSENT_WITHDRAWN: ConsentWithdrawn,
    EventType.SAFEGUARDING_OVERRIDE_RECORDED: SafeguardingOverrideRecorded,
    EventType.SAFEGUARDING_OVERRIDE_ENDED: SafeguardingOverrideEnded,
    EventType.REFERRAL_RECEIVED: ReferralReceived,
    EventType.ASSESSMENT_COMPLETED: AssessmentCompleted,
    EventType.PLAN_STARTED: PlanStarted,
    EventType.PLAN_ENDED: PlanEnded,
    EventType.CASE_CLOSED: CaseClosed,
    EventType.PROGRAMME_REFERRAL_ACCEPTED: ProgrammeReferralAccepted,
    EventType.PROGRAMME_PROGRESS: ProgrammeProgress,
    EventType.ASSESSMENT_SCORE_RECORDED: AssessmentScoreRecorded,
    EventType.ALERT_ACKNOWLEDGED: AlertAcknowledged,
    EventType.ALERT_CLOSED: AlertClosed,
    EventType.ALERT_ESCALATED: AlertEscalated,
    EventType.PRACTITIONER_UNASSIGNED: PractitionerUnassigned,
    EventType.CHARACTERISTICS_RECORDED: CharacteristicsRecorded,
    EventType.PROGRAMME_REFERRAL_DECLINED: ProgrammeReferralDeclined,
    EventType.PROGRAMME_PATHWAY_CHANGED: ProgrammePathwayChanged,
    EventType.PROGRAMME_ACTIVITY_RECORDED: ProgrammeActivityRecorded,
    EventType.PROGRAMME_EXITED: ProgrammeExited,
    EventType.PERMANENCE_RECORDED: PermanenceRecorded,
}


class CaseEvent(FrozenModel):
    """The envelope: who, when, from where, how sensitive, plus the payload."""

    event_id: uuid.UUID
    event_type: EventType
    schema_version: int = SCHEMA_VERSION
    occurred_at: AwareDatetime
    recorded_at: AwareDatetime
    source: Source
    source_record_id: str = Field(min_length=1)
    subject: tuple[PersonIdentifier, ...] = Field(min_length=1)
    family_key: str | None = None
    data_category: DataCategory
    sensitivity: Sensitivity
    # Built by ``_payload_from_event_type`` as the class ``event_type`` names and checked by
    # ``_payload_matches_event_type``; not tried against each of the union's members again
    # (half an event's validation, measured: ADR 0037).
    payload: SkipValidation[Payload]

    @model_validator(mode="before")
    @classmethod
    def _payload_from_event_type(cls, data: Any) -> Any:
        """Build the payload as the class ``event_type`` names (shapes alone are ambiguous)."""
        if isinstance(data, dict) and isinstance(data.get("payload"), dict):
            try:
                payload_type = PAYLOAD_TYPES[EventType(data["event_type"])]
            except (KeyError, ValueError):
                return data  # field validation reports the bad event_type
            data = {**data, "payload": payload_type.model_validate(data["payload"])}
        return data

    @model_validator(mode="after")
    def _payload_matches_event_type(self) -> CaseEvent:
        expected = PAYLOAD_TYPES[self.event_type]
        if not isinstance(self.payload, expected):
            raise ValueError(
                f"event_type {self.event_type} needs a {expected.__name__} payload, "
                f"not {type(self.payload).__name__}"
            )
        return self

    def nhs_number(self) -> str | None:
        """The subject's NHS number, if the source gave one."""
        return next((i.value for i in self.subject if i.system == NHS_NUMBER_SYSTEM), None)

    def subject_key(self) -> str:
        """The person an event is about, as one string (projections key by it).

        A valid NHS number is the strongest key; otherwise the first local identifier,
        qualified by its system so two systems' ``12345`` never collide.
        """
        return self.nhs_number() or self.subject[0].key()


def deterministic_event_id(*parts: str) -> uuid.UUID:
    """A UUIDv5 from the parts that identify a source fact (system, record id, event type, ...)."""
    return uuid.uuid5(EVENT_ID_NAMESPACE, "\x1f".join(parts))


def utc_now() -> datetime:
    return datetime.now(UTC)
