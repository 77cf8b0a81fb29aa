"""FHIR R4 ``Encounter`` -> APPOINTMENT_ATTENDED, as a pure translation.

An encounter that fulfils an appointment (``Encounter.appointment``) and has begun
(``arrived``, ``in-progress``, ``finished``) is the hub's evidence of attendance: it is what
stops a booked appointment from being inferred as missed. Other encounters carry no case-event
yet and are refused with the reason.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Final

from fhir.resources.R4B.encounter import Encounter

from hub.connectors.fhir.common import (
    SOURCE_SYSTEM,
    FhirResourceConnector,
    FhirSender,
    as_utc,
    nhs_number,
)
from hub.connectors.sdk import RecordError
from hub.events import CaseEvent, EventType, deterministic_event_id
from hub.payloads import (
    NHS_NUMBER_SYSTEM,
    Appointment,
    AppointmentAttended,
    PersonIdentifier,
    Source,
)
from hub.vocabulary import DataCategory, Sensitivity

ATTENDED: Final = frozenset({"arrived", "in-progress", "finished"})


def encounter_to_event(
    resource: Encounter, *, organisation_code: str, recorded_at: datetime
) -> CaseEvent:
    issues: list[tuple[str, str]] = []
    if resource.status not in ATTENDED:
        issues.append(
            (
                "Encounter.status",
                f"status {resource.status!r} carries no case-event; "
                f"the hub takes {', '.join(sorted(ATTENDED))}",
            )
        )
    references = [r.reference for r in resource.appointment or [] if r.reference]
    if not references:
        issues.append(("Encounter.appointment", "the encounter names no appointment it fulfils"))
    start = resource.period.start if resource.period is not None else None
    if start is None:
        issues.append(("Encounter.period.start", "the encounter has no start time"))
    subject = resource.subject.identifier if resource.subject is not None else None
    number = nhs_number(subject, "Encounter.subject.identifier", issues)
    if issues or number is None or start is None:
        raise RecordError(issues)
    appointment_id = references[0].removeprefix("Appointment/")
    started = as_utc(start)
    return CaseEvent(
        event_id=deterministic_event_id(
            SOURCE_SYSTEM,
            organisation_code,
            "Encounter",
            resource.id or appointment_id,
            EventType.APPOINTMENT_ATTENDED,
            started.isoformat(),
        ),
        event_type=EventType.APPOINTMENT_ATTENDED,
        occurred_at=started,
        recorded_at=recorded_at,
        source=Source(system=SOURCE_SYSTEM, organisation_code=organisation_code),
        source_record_id=f"Encounter/{resource.id}" if resource.id else appointment_id,
        subject=(PersonIdentifier(system=NHS_NUMBER_SYSTEM, value=number),),
        data_category=DataCategory.APPOINTMENTS,
        sensitivity=Sensitivity.ROUTINE,
        payload=AppointmentAttended(
            appointment=Appointment(
                appointment_id=appointment_id,
                start=started,
                end=as_utc(resource.period.end)
                if resource.period and resource.period.end
                else None,
            )
        ),
    )


class EncounterConnector(FhirResourceConnector[Encounter]):
    name = "fhir-encounter"
    summary = "FHIR R4 Encounter that fulfils an appointment: the attendance"
    resource_type = "Encounter"
    model = Encounter

    def map(
        self, message: Encounter, context: FhirSender, recorded_at: datetime
    ) -> Sequence[CaseEvent]:
        return (
            encounter_to_event(
                message, organisation_code=context.organisation_code, recorded_at=recorded_at
            ),
        )
