"""Small builders for case-events in tests: one line per fact, defaults for the rest."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from hub.events import CaseEvent, EventType, deterministic_event_id
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
    ConsentRecorded,
    ConsentWithdrawn,
    Payload,
    PersonIdentifier,
    PersonRegistered,
    PractitionerAssigned,
    PractitionerUnassigned,
    SafeguardingOverrideEnded,
    SafeguardingOverrideRecorded,
    Source,
)
from hub.practitioners import PractitionerRef
from hub.vocabulary import (
    AssignmentScope,
    DataCategory,
    OverrideReason,
    PractitionerRole,
    Purpose,
    Sensitivity,
)

NHS_NUMBER = "9434765919"
T0 = datetime(2026, 3, 2, 9, 30, tzinfo=UTC)
TRUST = Source(system="test-pas", organisation_code="R0A")


def event(
    event_type: EventType,
    payload: Payload,
    *,
    record_id: str = "rec-1",
    nhs_number: str = NHS_NUMBER,
    at: datetime = T0,
    source: Source = TRUST,
) -> CaseEvent:
    return CaseEvent(
        event_id=deterministic_event_id("test", source.system, event_type, record_id),
        event_type=event_type,
        occurred_at=at,
        recorded_at=at + timedelta(minutes=1),
        source=source,
        source_record_id=record_id,
        subject=(PersonIdentifier(system=NHS_NUMBER_SYSTEM, value=nhs_number),),
        data_category=DataCategory.APPOINTMENTS,
        sensitivity=Sensitivity.ROUTINE,
        payload=payload,
    )


def appointment(appointment_id: str = "APT-1", start: datetime = T0) -> Appointment:
    return Appointment(appointment_id=appointment_id, start=start, service_type="antenatal")


def missed(appointment_id: str = "APT-1", **kwargs: object) -> CaseEvent:
    return event(
        EventType.APPOINTMENT_MISSED,
        AppointmentMissed(appointment=appointment(appointment_id)),
        record_id=appointment_id,
        **kwargs,  # type: ignore[arg-type]
    )


def attended(appointment_id: str = "APT-1", **kwargs: object) -> CaseEvent:
    return event(
        EventType.APPOINTMENT_ATTENDED,
        AppointmentAttended(appointment=appointment(appointment_id)),
        record_id=f"{appointment_id}-attended",
        **kwargs,  # type: ignore[arg-type]
    )


def booked(appointment_id: str = "APT-1", start: datetime = T0, **kwargs: object) -> CaseEvent:
    return event(
        EventType.APPOINTMENT_BOOKED,
        AppointmentBooked(appointment=appointment(appointment_id, start)),
        record_id=f"{appointment_id}-booked",
        **kwargs,  # type: ignore[arg-type]
    )


def cancelled(appointment_id: str = "APT-1", **kwargs: object) -> CaseEvent:
    return event(
        EventType.APPOINTMENT_CANCELLED,
        AppointmentCancelled(appointment=appointment(appointment_id)),
        record_id=f"{appointment_id}-cancelled",
        **kwargs,  # type: ignore[arg-type]
    )


def rescheduled(appointment_id: str, start: datetime, **kwargs: object) -> CaseEvent:
    return event(
        EventType.APPOINTMENT_RESCHEDULED,
        AppointmentRescheduled(appointment=appointment(appointment_id, start)),
        record_id=f"{appointment_id}-moved-{start.isoformat()}",
        **kwargs,  # type: ignore[arg-type]
    )


def modified(appointment_id: str, start: datetime, **kwargs: object) -> CaseEvent:
    return event(
        EventType.APPOINTMENT_MODIFIED,
        AppointmentModified(appointment=appointment(appointment_id, start)),
        record_id=f"{appointment_id}-modified-{start.isoformat()}",
        **kwargs,  # type: ignore[arg-type]
    )


def ref(practitioner_id: str, organisation_code: str = "R0A") -> PractitionerRef:
    """A practitioner of the trust (the builders' default organisation) unless told another."""
    return PractitionerRef(organisation_code=organisation_code, practitioner_id=practitioner_id)


def refs(*practitioner_ids: str, organisation_code: str = "R0A") -> frozenset[PractitionerRef]:
    return frozenset(ref(p, organisation_code) for p in practitioner_ids)


def acknowledged(
    alert_id: uuid.UUID, by: str = "mw-1", by_organisation: str | None = None, **kwargs: object
) -> CaseEvent:
    return event(
        EventType.ALERT_ACKNOWLEDGED,
        AlertAcknowledged(alert_id=alert_id, by=by, by_organisation=by_organisation),
        record_id=f"ack-{alert_id}-{by}",
        **kwargs,  # type: ignore[arg-type]
    )


def closed(
    alert_id: uuid.UUID, by: str = "mw-1", by_organisation: str | None = None, **kwargs: object
) -> CaseEvent:
    return event(
        EventType.ALERT_CLOSED,
        AlertClosed(
            alert_id=alert_id,
            by=by,
            by_organisation=by_organisation,
            reason="phoned her; rebooked for Friday",
        ),
        record_id=f"close-{alert_id}-{by}",
        **kwargs,  # type: ignore[arg-type]
    )


def escalated(alert_id: uuid.UUID, **kwargs: object) -> CaseEvent:
    return event(
        EventType.ALERT_ESCALATED,
        AlertEscalated(alert_id=alert_id, reason="not acknowledged within 24 hours"),
        record_id=f"escalate-{alert_id}",
        **kwargs,  # type: ignore[arg-type]
    )


def assigned(
    practitioner_id: str = "mw-1",
    role: PractitionerRole = PractitionerRole.COMMUNITY_MIDWIFE,
    organisation_code: str = "R0A",
    **kwargs: object,
) -> CaseEvent:
    return event(
        EventType.PRACTITIONER_ASSIGNED,
        PractitionerAssigned(
            practitioner_id=practitioner_id,
            name=f"Practitioner {practitioner_id}",
            role=role,
            organisation_code=organisation_code,
            scope=AssignmentScope.PERSON,
        ),
        record_id=f"assign-{organisation_code}-{practitioner_id}",
        **kwargs,  # type: ignore[arg-type]
    )


def unassigned(
    practitioner_id: str = "mw-1",
    role: PractitionerRole = PractitionerRole.COMMUNITY_MIDWIFE,
    organisation_code: str = "R0A",
    **kwargs: object,
) -> CaseEvent:
    return event(
        EventType.PRACTITIONER_UNASSIGNED,
        PractitionerUnassigned(
            practitioner_id=practitioner_id,
            organisation_code=organisation_code,
            role=role,
            scope=AssignmentScope.PERSON,
        ),
        record_id=f"unassign-{practitioner_id}",
        **kwargs,  # type: ignore[arg-type]
    )


def registered(
    given: str = "Amy", family: str = "Example", language: str | None = None, **kwargs: object
) -> CaseEvent:
    return event(
        EventType.PERSON_REGISTERED,
        PersonRegistered(given_name=given, family_name=family, language=language),
        record_id="pat-1",
        **kwargs,  # type: ignore[arg-type]
    )


HOME_START = "VCS-HOMESTART-SALFORD"
SALFORD_COUNCIL = "355"
PROGRAMME = Source(system="sf-programme-case-system", organisation_code=SALFORD_COUNCIL)


def consented(
    consent_id: str = "consent-1",
    recipients: tuple[str, ...] = (HOME_START,),
    categories: tuple[DataCategory, ...] = (DataCategory.APPOINTMENTS, DataCategory.DEMOGRAPHICS),
    *,
    at: datetime = T0,
    nhs_number: str = NHS_NUMBER,
    expires_at: datetime | None = None,
) -> CaseEvent:
    return event(
        EventType.CONSENT_RECORDED,
        ConsentRecorded(
            consent_id=consent_id,
            recipients=recipients,
            categories=categories,
            purposes=(Purpose.DIRECT_CARE,),
            recorded_by="programme-midwife-1",
            expires_at=expires_at,
        ),
        record_id=consent_id,
        at=at,
        nhs_number=nhs_number,
        source=PROGRAMME,
    )


def withdrawn(
    recipients: tuple[str, ...] = (HOME_START,),
    categories: tuple[DataCategory, ...] = (),
    *,
    consent_id: str | None = None,
    at: datetime = T0,
    record_id: str = "withdrawal-1",
) -> CaseEvent:
    stated = event(
        EventType.CONSENT_WITHDRAWN,
        ConsentWithdrawn(
            consent_id=consent_id,
            recipients=recipients,
            categories=categories,
            recorded_by="programme-midwife-1",
        ),
        record_id=record_id,
        at=at,
        source=PROGRAMME,
    )
    # Received as it occurred, as through the API: a withdrawal binds from its receipt.
    return stated.model_copy(update={"recorded_at": at})


def override(
    override_id: str = "override-1",
    recipients: tuple[str, ...] = (HOME_START,),
    categories: tuple[DataCategory, ...] = (DataCategory.APPOINTMENTS,),
    *,
    at: datetime = T0,
    expires_at: datetime | None = None,
) -> CaseEvent:
    return event(
        EventType.SAFEGUARDING_OVERRIDE_RECORDED,
        SafeguardingOverrideRecorded(
            override_id=override_id,
            recorded_by="salford-social-worker-7",
            recorded_by_organisation=SALFORD_COUNCIL,
            reason_code=OverrideReason.RISK_OF_SIGNIFICANT_HARM,
            reason="unborn baby at risk; mother not engaging",
            recipients=recipients,
            categories=categories,
            expires_at=expires_at or at + timedelta(days=7),
        ),
        record_id=override_id,
        at=at,
        source=PROGRAMME,
    )


def override_ended(override_id: str = "override-1", *, at: datetime = T0) -> CaseEvent:
    return event(
        EventType.SAFEGUARDING_OVERRIDE_ENDED,
        SafeguardingOverrideEnded(override_id=override_id, ended_by="salford-team-manager"),
        record_id=f"{override_id}-ended",
        at=at,
        source=PROGRAMME,
    )
