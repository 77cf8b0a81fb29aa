"""FHIR R4 ``Appointment`` → case-events, as a pure translation.

Validation is fhir.resources' (its R4B models: R4B changed nothing in ``Appointment``); the
hub adds what a case-event needs: a patient participant with a valid NHS number, a start time,
a status that means something to the projections, and an identifier that makes a re-sent
resource recognisable. Every problem is reported with its FHIRPath-style location. The
connector puts the practitioners the appointment names in a configured role
(:func:`hub.connectors.fhir.team.appointment_team`) before the appointment's own event.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any, Final

from fhir.resources.R4B.appointment import Appointment as FhirAppointment

from hub.connectors.fhir.common import (
    SOURCE_SYSTEM,
    FhirResourceConnector,
    FhirSender,
    as_utc,
    last_updated,
    nhs_number,
)
from hub.connectors.fhir.team import appointment_team
from hub.connectors.sdk import RecordError
from hub.events import CaseEvent, EventType, deterministic_event_id
from hub.payloads import (
    NHS_NUMBER_SYSTEM,
    Appointment,
    AppointmentAttended,
    AppointmentBooked,
    AppointmentCancelled,
    AppointmentMissed,
    PersonIdentifier,
    Source,
)
from hub.vocabulary import DataCategory, Sensitivity

STATUS_EVENTS: Final = {
    "booked": EventType.APPOINTMENT_BOOKED,
    "arrived": EventType.APPOINTMENT_ATTENDED,
    "checked-in": EventType.APPOINTMENT_ATTENDED,
    "fulfilled": EventType.APPOINTMENT_ATTENDED,
    "cancelled": EventType.APPOINTMENT_CANCELLED,
    "entered-in-error": EventType.APPOINTMENT_CANCELLED,
    "noshow": EventType.APPOINTMENT_MISSED,
}


def appointment_to_event(
    resource: FhirAppointment, *, organisation_code: str, recorded_at: datetime
) -> CaseEvent:
    """The case-event an Appointment stands for, or :class:`RecordError` naming each problem."""
    issues: list[tuple[str, str]] = []
    event_type = STATUS_EVENTS.get(resource.status or "")
    if event_type is None:
        taken = ", ".join(STATUS_EVENTS)
        issues.append(
            (
                "Appointment.status",
                f"status {resource.status!r} carries no case-event; the hub takes {taken}",
            )
        )
    record_id = _record_id(resource)
    if record_id is None:
        issues.append(
            (
                "Appointment.identifier",
                "an identifier (or id) is needed so that a re-sent appointment is recognised",
            )
        )
    if resource.start is None:
        issues.append(("Appointment.start", "the appointment has no start time"))
    nhs_number = _nhs_number(resource, issues)
    if issues or event_type is None or record_id is None or nhs_number is None:
        raise RecordError(issues)
    start = as_utc(resource.start)
    appointment = Appointment(
        appointment_id=record_id,
        start=start,
        end=as_utc(resource.end) if resource.end else None,
        service_type=_service_type(resource),
        description=resource.description,
        location=_participant_display(resource, "Location"),
        practitioner_ids=_practitioner_ids(resource),
    )
    occurred_at = (
        start if event_type is EventType.APPOINTMENT_MISSED else last_updated(resource, recorded_at)
    )
    return CaseEvent(
        event_id=deterministic_event_id(
            SOURCE_SYSTEM,
            organisation_code,
            "Appointment",
            record_id,
            event_type,
            start.isoformat(),
        ),
        event_type=event_type,
        occurred_at=occurred_at,
        recorded_at=recorded_at,
        source=Source(system=SOURCE_SYSTEM, organisation_code=organisation_code),
        source_record_id=record_id,
        subject=(PersonIdentifier(system=NHS_NUMBER_SYSTEM, value=nhs_number),),
        data_category=DataCategory.APPOINTMENTS,
        sensitivity=Sensitivity.ROUTINE,
        payload=_payload(event_type, appointment, resource),
    )


class AppointmentConnector(FhirResourceConnector[FhirAppointment]):
    name = "fhir-appointment"
    summary = (
        "FHIR R4 Appointment (UK Core): booked, attended, cancelled, missed (noshow), and the "
        "practitioners it names"
    )
    resource_type = "Appointment"
    model = FhirAppointment

    def map(
        self, message: FhirAppointment, context: FhirSender, recorded_at: datetime
    ) -> Sequence[CaseEvent]:
        """The practitioners it names in a mapped role first, then the appointment's own event
        (a cancelled appointment names nobody to the team)."""
        organisation = context.organisation_code
        event = appointment_to_event(
            message, organisation_code=organisation, recorded_at=recorded_at
        )
        if event.event_type is EventType.APPOINTMENT_CANCELLED:
            return (event,)
        team = appointment_team(
            message,
            organisation_code=organisation,
            recorded_at=recorded_at,
            roles=context.roles,
            subject=event.subject,
            record_id=event.source_record_id,
        )
        return (*team, event)


def _payload(event_type: EventType, appointment: Appointment, resource: FhirAppointment) -> Any:
    if event_type is EventType.APPOINTMENT_BOOKED:
        return AppointmentBooked(appointment=appointment)
    if event_type is EventType.APPOINTMENT_ATTENDED:
        return AppointmentAttended(appointment=appointment)
    if event_type is EventType.APPOINTMENT_MISSED:
        return AppointmentMissed(appointment=appointment)
    reason = resource.cancelationReason.text if resource.cancelationReason else None
    return AppointmentCancelled(appointment=appointment, reason=reason or resource.status)


def _record_id(resource: FhirAppointment) -> str | None:
    for identifier in resource.identifier or []:
        if identifier.value:
            return (
                f"{identifier.system}|{identifier.value}" if identifier.system else identifier.value
            )
    return resource.id


def _nhs_number(resource: FhirAppointment, issues: list[tuple[str, str]]) -> str | None:
    for index, participant in enumerate(resource.participant or []):
        actor = participant.actor
        if actor is None or not _refers_to(actor, "Patient"):
            continue
        location = f"Appointment.participant[{index}].actor.identifier"
        return nhs_number(actor.identifier, location, issues)
    issues.append(("Appointment.participant", "no participant is a Patient"))
    return None


def _refers_to(actor: Any, resource_type: str) -> bool:
    reference = actor.reference or ""
    return bool(
        actor.type == resource_type
        or reference.startswith(f"{resource_type}/")
        or (
            resource_type == "Patient"
            and actor.identifier is not None
            and actor.identifier.system == NHS_NUMBER_SYSTEM
        )
    )


def _practitioner_ids(resource: FhirAppointment) -> tuple[str, ...]:
    found: list[str] = []
    for participant in resource.participant or []:
        actor = participant.actor
        if actor is None or not _refers_to(actor, "Practitioner"):
            continue
        if actor.identifier is not None and actor.identifier.value:
            found.append(actor.identifier.value)
        elif actor.reference:
            found.append(actor.reference.removeprefix("Practitioner/"))
    return tuple(found)


def _participant_display(resource: FhirAppointment, resource_type: str) -> str | None:
    for participant in resource.participant or []:
        actor = participant.actor
        if actor is not None and _refers_to(actor, resource_type):
            return actor.display or actor.reference
    return None


def _service_type(resource: FhirAppointment) -> str | None:
    for concept in [*(resource.serviceType or []), resource.appointmentType]:
        if concept is None:
            continue
        if concept.text:
            return str(concept.text)
        for coding in concept.coding or []:
            if coding.display or coding.code:
                return str(coding.display or coding.code)
    return None
