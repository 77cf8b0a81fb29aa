"""FHIR R4 ``Patient`` (UK Core) -> PERSON_REGISTERED, as a pure translation."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from fhir.resources.R4B.patient import Patient

from hub.connectors.fhir.common import (
    SOURCE_SYSTEM,
    FhirResourceConnector,
    FhirSender,
    content_digest,
    last_updated,
    nhs_number,
)
from hub.connectors.sdk import RecordError
from hub.events import (
    NHS_NUMBER_SYSTEM,
    CaseEvent,
    DataCategory,
    EventType,
    PersonIdentifier,
    PersonRegistered,
    Sensitivity,
    Source,
    deterministic_event_id,
)


def patient_to_event(
    resource: Patient, *, organisation_code: str, recorded_at: datetime
) -> CaseEvent:
    issues: list[tuple[str, str]] = []
    identifiers = resource.identifier or []
    nhs = next((i for i in identifiers if i.system == NHS_NUMBER_SYSTEM), None)
    number = nhs_number(nhs, "Patient.identifier", issues)
    if number is None:
        raise RecordError(issues)
    name = resource.name[0] if resource.name else None
    address = resource.address[0] if resource.address else None
    record_id = f"Patient/{resource.id}" if resource.id else f"Patient?nhs-number={number}"
    return CaseEvent(
        event_id=deterministic_event_id(
            SOURCE_SYSTEM, organisation_code, "Patient", number, content_digest(resource)
        ),
        event_type=EventType.PERSON_REGISTERED,
        occurred_at=last_updated(resource, recorded_at),
        recorded_at=recorded_at,
        source=Source(system=SOURCE_SYSTEM, organisation_code=organisation_code),
        source_record_id=record_id,
        subject=(PersonIdentifier(system=NHS_NUMBER_SYSTEM, value=number),),
        data_category=DataCategory.DEMOGRAPHICS,
        sensitivity=Sensitivity.ROUTINE,
        payload=PersonRegistered(
            given_name=(name.given or [None])[0] if name else None,
            family_name=name.family if name else None,
            birth_date=resource.birthDate,
            postcode=address.postalCode if address else None,
        ),
    )


class PatientConnector(FhirResourceConnector[Patient]):
    name = "fhir-patient"
    summary = "FHIR R4 Patient (UK Core): the person's name, birth date and postcode"
    resource_type = "Patient"
    model = Patient

    def map(
        self, message: Patient, context: FhirSender, recorded_at: datetime
    ) -> Sequence[CaseEvent]:
        return (
            patient_to_event(
                message, organisation_code=context.organisation_code, recorded_at=recorded_at
            ),
        )
