"""The payload of each case-event type, and the parts the envelope shares with them (the source,
a person's identifiers, an appointment).

Pydantic mirrors of the payload records in ``schemas/avro/case_event.avsc``, field for field
(``tests/unit/test_events_contract.py`` proves the two agree). Which payload an event carries is
decided by its ``event_type`` (:data:`hub.events.PAYLOAD_TYPES`), never by shape: Avro cannot tell
``AppointmentAttended`` from ``AppointmentMissed`` by shape alone, so neither do we.
"""

from __future__ import annotations

import uuid
from datetime import date
from typing import Final

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, model_validator

from hub.vocabulary import (
    AssessmentType,
    AssignmentScope,
    Characteristic,
    DataCategory,
    EthnicCategory,
    ExitReason,
    Jurisdiction,
    LawfulBasis,
    OverrideReason,
    PermanenceOutcome,
    PlanType,
    PractitionerRole,
    ProgrammeActivity,
    Purpose,
    Relationship,
    ScoreInstrument,
    ScoreStage,
)

NHS_NUMBER_SYSTEM: Final = "https://fhir.nhs.uk/Id/nhs-number"


class FrozenModel(BaseModel):
    """Immutable, and unknown fields are errors: the base of every value the hub passes around."""

    model_config = ConfigDict(frozen=True, extra="forbid")


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
