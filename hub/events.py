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

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, model_validator

SCHEMA_VERSION: Final = 1
NHS_NUMBER_SYSTEM: Final = "https://fhir.nhs.uk/Id/nhs-number"

# Namespace for deterministic (UUIDv5) ids: the same source record always yields the same
# event id, so a re-sent message is recognised downstream instead of raising a second alert.
EVENT_ID_NAMESPACE: Final = uuid.UUID("6f1d2b9e-3c55-5a7e-9a43-2f0c8d1e7b21")


class _Frozen(BaseModel):
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


MIDWIFE_ROLES: Final = frozenset(
    {
        PractitionerRole.COMMUNITY_MIDWIFE,
        PractitionerRole.PROGRAMME_MIDWIFE,
        PractitionerRole.SPECIALIST_MIDWIFE,
    }
)


class AssignmentScope(StrEnum):
    PERSON = "PERSON"
    FAMILY = "FAMILY"


class Source(_Frozen):
    system: str = Field(min_length=1)
    organisation_code: str = Field(min_length=1)


class PersonIdentifier(_Frozen):
    system: str = Field(min_length=1)
    value: str = Field(min_length=1)


class Appointment(_Frozen):
    appointment_id: str = Field(min_length=1)
    start: AwareDatetime
    end: AwareDatetime | None = None
    service_type: str | None = None
    description: str | None = None
    location: str | None = None
    practitioner_ids: tuple[str, ...] = ()


class PersonRegistered(_Frozen):
    given_name: str | None = None
    family_name: str | None = None
    birth_date: date | None = None
    postcode: str | None = None


class AppointmentBooked(_Frozen):
    appointment: Appointment


class AppointmentCancelled(_Frozen):
    appointment: Appointment
    reason: str | None = None


class AppointmentAttended(_Frozen):
    appointment: Appointment


class AppointmentMissed(_Frozen):
    appointment: Appointment


class PractitionerAssigned(_Frozen):
    practitioner_id: str = Field(min_length=1)
    name: str
    role: PractitionerRole
    organisation_code: str
    contact: str | None = None
    scope: AssignmentScope


class AppointmentRescheduled(_Frozen):
    appointment: Appointment
    previous_start: AwareDatetime | None = None


class AppointmentModified(_Frozen):
    appointment: Appointment


class PersonMerged(_Frozen):
    merged: tuple[PersonIdentifier, ...]


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
}


class CaseEvent(_Frozen):
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
    payload: Payload

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


def deterministic_event_id(*parts: str) -> uuid.UUID:
    """A UUIDv5 from the parts that identify a source fact (system, record id, event type, ...)."""
    return uuid.uuid5(EVENT_ID_NAMESPACE, "\x1f".join(parts))


def utc_now() -> datetime:
    return datetime.now(UTC)
