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
from hub.events import CaseEvent, EventType, deterministic_event_id
from hub.payloads import NHS_NUMBER_SYSTEM, PersonIdentifier, PersonRegistered, Source
from hub.vocabulary import DataCategory, Sensitivity


def patient_to_event(
    resource: Patient,
    *,
    organisation_code: str,
    recorded_at: datetime,
    identifier_systems: frozenset[str] = frozenset(),
) -> CaseEvent:
    """``identifier_systems`` are the sender's own (a health board's PAS number, e.g.
    ``https://fhir.abuhb.nhs.wales/Id/pas-identifier``): a Patient identified by one is taken
    without an NHS number — a newborn is registered before its NHS number is issued, and the
    person index links the two when a later version carries both (ADR 0008)."""
    issues: list[tuple[str, str]] = []
    identifiers = resource.identifier or []
    nhs = next((i for i in identifiers if i.system == NHS_NUMBER_SYSTEM), None)
    local = tuple(
        PersonIdentifier(system=i.system, value=i.value.strip())
        for i in identifiers
        if i.system in identifier_systems and i.value and i.value.strip()
    )
    number = nhs_number(nhs, "Patient.identifier", issues) if nhs is not None or not local else None
    if issues:
        raise RecordError(issues)
    subject = (
        (PersonIdentifier(system=NHS_NUMBER_SYSTEM, value=number),) if number else ()
    ) + local
    name = resource.name[0] if resource.name else None
    address = resource.address[0] if resource.address else None
    first = subject[0]
    record_id = (
        f"Patient/{resource.id}"
        if resource.id
        else f"Patient?identifier={'nhs-number' if number else first.system}|{first.value}"
    )
    return CaseEvent(
        event_id=deterministic_event_id(
            SOURCE_SYSTEM, organisation_code, "Patient", first.value, content_digest(resource)
        ),
        event_type=EventType.PERSON_REGISTERED,
        occurred_at=last_updated(resource, recorded_at),
        recorded_at=recorded_at,
        source=Source(system=SOURCE_SYSTEM, organisation_code=organisation_code),
        source_record_id=record_id,
        subject=subject,
        data_category=DataCategory.DEMOGRAPHICS,
        sensitivity=Sensitivity.ROUTINE,
        payload=PersonRegistered(
            given_name=(name.given or [None])[0] if name else None,
            family_name=name.family if name else None,
            birth_date=resource.birthDate,
            postcode=address.postalCode if address else None,
            language=_language(resource),
        ),
    )


def _language(resource: Patient) -> str | None:
    """``Patient.communication.language``: the preferred one, else the first (Data Standards
    Wales requires it); its first coding's code (BCP 47, ``urn:ietf:bcp:47``), else its text."""
    spoken = resource.communication or []
    chosen = next((c for c in spoken if c.preferred), spoken[0] if spoken else None)
    if chosen is None or chosen.language is None:
        return None
    codings = chosen.language.coding or []
    code = next((c.code for c in codings if c.code), None)
    return code or chosen.language.text or None


class PatientConnector(FhirResourceConnector[Patient]):
    name = "fhir-patient"
    summary = "FHIR R4 Patient (UK Core): the person's name, birth date, postcode and language"
    resource_type = "Patient"
    model = Patient

    def map(
        self, message: Patient, context: FhirSender, recorded_at: datetime
    ) -> Sequence[CaseEvent]:
        return (
            patient_to_event(
                message,
                organisation_code=context.organisation_code,
                recorded_at=recorded_at,
                identifier_systems=context.identifier_systems,
            ),
        )
