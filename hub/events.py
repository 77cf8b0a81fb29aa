"""The case-event contract as typed Python values: the envelope, its event types, and which
payload each type carries.

``schemas/avro/case_event.avsc`` is the wire contract partners build against; these pydantic
models mirror it field for field so the functional core works with typed, immutable values
rather than dicts. ``tests/unit/test_events_contract.py`` proves the two agree (same fields,
same optionality, and every model round-trips through fastavro). The payloads are defined in
:mod:`hub.payloads` and the coded values (categories, purposes, roles, ...) in
:mod:`hub.vocabulary`; this module names them too, so a connector imports the whole contract
from one place, as connectors written before the split do.

The envelope's ``event_type`` is the discriminator of the payload union: Avro cannot tell
``AppointmentAttended`` from ``AppointmentMissed`` by shape alone, so neither do we.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, Final

from pydantic import AwareDatetime, BaseModel, Field, SkipValidation, model_validator

from hub.payloads import (
    NHS_NUMBER_SYSTEM,
    AlertAcknowledged,
    AlertClosed,
    AlertEscalated,
    Appointment,
    AppointmentAttended,
    AppointmentBooked,
    AppointmentCancelled,
    AppointmentMissed,
    AppointmentModified,
    AppointmentRescheduled,
    AssessmentCompleted,
    AssessmentScoreRecorded,
    BirthRegistered,
    CaseClosed,
    CharacteristicRecord,
    CharacteristicsRecorded,
    ConsentRecorded,
    ConsentWithdrawn,
    FrozenModel,
    Payload,
    PermanenceRecorded,
    PersonIdentifier,
    PersonMerged,
    PersonRegistered,
    PersonUnmerged,
    PlanEnded,
    PlanStarted,
    PractitionerAssigned,
    PractitionerUnassigned,
    ProgrammeActivityRecorded,
    ProgrammeExited,
    ProgrammePathwayChanged,
    ProgrammeProgress,
    ProgrammeReferralAccepted,
    ProgrammeReferralDeclined,
    ReferralReceived,
    RelationshipRecorded,
    SafeguardingOverrideEnded,
    SafeguardingOverrideRecorded,
    Source,
)
from hub.vocabulary import (
    MIDWIFE_ROLES,
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
    Sensitivity,
    ethnic_group,
)

# The contract's one import for a connector's author (``hub connector new`` writes it): the
# payloads and coded values are defined in their own modules, and named here too.
__all__ = [
    "EVENT_ID_NAMESPACE",
    "MIDWIFE_ROLES",
    "NHS_NUMBER_SYSTEM",
    "PAYLOAD_TYPES",
    "SCHEMA_VERSION",
    "AlertAcknowledged",
    "AlertClosed",
    "AlertEscalated",
    "Appointment",
    "AppointmentAttended",
    "AppointmentBooked",
    "AppointmentCancelled",
    "AppointmentMissed",
    "AppointmentModified",
    "AppointmentRescheduled",
    "AssessmentCompleted",
    "AssessmentScoreRecorded",
    "AssessmentType",
    "AssignmentScope",
    "BirthRegistered",
    "CaseClosed",
    "CaseEvent",
    "Characteristic",
    "CharacteristicRecord",
    "CharacteristicsRecorded",
    "ConsentRecorded",
    "ConsentWithdrawn",
    "DataCategory",
    "EthnicCategory",
    "EventType",
    "ExitReason",
    "FrozenModel",
    "Jurisdiction",
    "LawfulBasis",
    "OverrideReason",
    "Payload",
    "PermanenceOutcome",
    "PermanenceRecorded",
    "PersonIdentifier",
    "PersonMerged",
    "PersonRegistered",
    "PersonUnmerged",
    "PlanEnded",
    "PlanStarted",
    "PlanType",
    "PractitionerAssigned",
    "PractitionerRole",
    "PractitionerUnassigned",
    "ProgrammeActivity",
    "ProgrammeActivityRecorded",
    "ProgrammeExited",
    "ProgrammePathwayChanged",
    "ProgrammeProgress",
    "ProgrammeReferralAccepted",
    "ProgrammeReferralDeclined",
    "Purpose",
    "ReferralReceived",
    "Relationship",
    "RelationshipRecorded",
    "SafeguardingOverrideEnded",
    "SafeguardingOverrideRecorded",
    "ScoreInstrument",
    "ScoreStage",
    "Sensitivity",
    "Source",
    "deterministic_event_id",
    "ethnic_group",
    "utc_now",
]

SCHEMA_VERSION: Final = 1

# Namespace for deterministic (UUIDv5) ids: the same source record always yields the same
# event id, so a re-sent message is recognised downstream instead of raising a second alert.
EVENT_ID_NAMESPACE: Final = uuid.UUID("6f1d2b9e-3c55-5a7e-9a43-2f0c8d1e7b21")


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
