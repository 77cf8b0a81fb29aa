"""FHIR R4 (UK Core) resources that name the team around a person, as a pure translation.

Three ways a trust's FHIR system says "this is her midwife" (ADR 0021), each read with the
sending organisation's :class:`~hub.connectors.sources.PractitionerRoles`:

* ``CareTeam``: each ``participant`` whose ``role`` coding code is in ``codes`` and whose
  ``member`` is a ``Practitioner`` / ``PractitionerRole`` is assigned; one whose ``period.end``
  has passed, or every one of a CareTeam whose ``status`` is ``inactive`` / ``entered-in-error``,
  is unassigned.
* ``EpisodeOfCare.careManager``: assigned in the ``care_manager`` role; unassigned when the
  episode is ``finished``, ``cancelled`` or ``entered-in-error``.
* ``Appointment.participant`` whose ``type`` coding code is in ``codes``
  (:func:`appointment_team`): assigned before the appointment's own event.

A practitioner is (organisation, id): the id is the member's identifier value (e.g. an SDS user
id), else its reference's id; the organisation is the participant's ``onBehalfOf`` ODS code,
else the resource's managing organisation, else the sender's. Input that names nobody the
source configured is refused, saying so, rather than accepted and dropped.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any, Final

from fhir.resources.R4B.appointment import Appointment as FhirAppointment
from fhir.resources.R4B.careteam import CareTeam
from fhir.resources.R4B.episodeofcare import EpisodeOfCare

from hub.connectors.fhir.common import (
    SOURCE_SYSTEM,
    FhirResourceConnector,
    FhirSender,
    as_utc,
    last_updated,
    nhs_number,
)
from hub.connectors.sdk import RecordError
from hub.connectors.sources import PractitionerRoles
from hub.events import CaseEvent, EventType, deterministic_event_id
from hub.payloads import (
    NHS_NUMBER_SYSTEM,
    PersonIdentifier,
    PractitionerAssigned,
    PractitionerUnassigned,
    Source,
)
from hub.vocabulary import AssignmentScope, DataCategory, PractitionerRole, Sensitivity

ENDED_CARE_TEAM: Final = frozenset({"inactive", "entered-in-error"})
NOT_YET_CARE_TEAM: Final = frozenset({"proposed", "suspended"})
ENDED_EPISODE: Final = frozenset({"finished", "cancelled", "entered-in-error"})
PRACTITIONER_TYPES: Final = ("Practitioner", "PractitionerRole")
Change = PractitionerAssigned | PractitionerUnassigned


def careteam_to_events(
    resource: CareTeam, *, organisation_code: str, recorded_at: datetime, roles: PractitionerRoles
) -> tuple[CaseEvent, ...]:
    issues: list[tuple[str, str]] = []
    subject = _patient(resource.subject, "CareTeam.subject", issues)
    record_id = _record_id(resource, "CareTeam", issues)
    status = resource.status or "active"
    if status in NOT_YET_CARE_TEAM:
        issues.append(("CareTeam.status", f"status {status!r} names nobody to the team yet"))
    managing = _organisation(resource.managingOrganization or [])
    changes: list[tuple[Change, datetime]] = []
    for index, participant in enumerate(resource.participant or []):
        at = f"CareTeam.participant[{index}]"
        role = _role(participant.role or [], roles)
        member = participant.member
        if role is None or member is None or not _is_practitioner(member):
            continue
        practitioner_id = _practitioner_id(member, f"{at}.member", issues)
        if practitioner_id is None:
            continue
        organisation = _organisation([participant.onBehalfOf]) or managing or organisation_code
        period = participant.period
        ended = status in ENDED_CARE_TEAM or (
            period is not None and period.end is not None and as_utc(period.end) <= recorded_at
        )
        if ended:
            when = (
                as_utc(period.end) if period and period.end else last_updated(resource, recorded_at)
            )
            changes.append((_unassigned(practitioner_id, organisation, role), when))
        else:
            when = last_updated(resource, recorded_at)
            changes.append((_assigned(practitioner_id, member, organisation, role), when))
    if not changes and not issues:
        issues.append(
            (
                "CareTeam.participant",
                "no participant is a Practitioner or PractitionerRole with a role code this "
                "source configures ([practitioner_roles.codes] in its config/sources file)",
            )
        )
    if issues or subject is None or record_id is None:
        raise RecordError(issues)
    return tuple(
        _event(change, when, "CareTeam", record_id, subject, organisation_code, recorded_at)
        for change, when in changes
    )


def episode_to_events(
    resource: EpisodeOfCare,
    *,
    organisation_code: str,
    recorded_at: datetime,
    roles: PractitionerRoles,
) -> tuple[CaseEvent, ...]:
    issues: list[tuple[str, str]] = []
    subject = _patient(resource.patient, "EpisodeOfCare.patient", issues)
    record_id = _record_id(resource, "EpisodeOfCare", issues)
    manager = resource.careManager
    role = roles.care_manager
    if manager is None or not _is_practitioner(manager):
        issues.append(("EpisodeOfCare.careManager", "no careManager Practitioner is named"))
    elif role is None:
        issues.append(
            (
                "EpisodeOfCare.careManager",
                "this source does not say what a care manager is "
                "(care_manager in [practitioner_roles] of its config/sources file)",
            )
        )
    practitioner_id = (
        _practitioner_id(manager, "EpisodeOfCare.careManager", issues) if manager else None
    )
    if issues or subject is None or record_id is None or practitioner_id is None:
        raise RecordError(issues)
    assert manager is not None
    assert role is not None
    organisation = _organisation([resource.managingOrganization]) or organisation_code
    when = last_updated(resource, recorded_at)
    change: Change
    if resource.status in ENDED_EPISODE:
        if resource.period is not None and resource.period.end is not None:
            when = as_utc(resource.period.end)
        change = _unassigned(practitioner_id, organisation, role)
    else:
        change = _assigned(practitioner_id, manager, organisation, role)
    return (
        _event(change, when, "EpisodeOfCare", record_id, subject, organisation_code, recorded_at),
    )


def appointment_team(
    resource: FhirAppointment,
    *,
    organisation_code: str,
    recorded_at: datetime,
    roles: PractitionerRoles,
    subject: tuple[PersonIdentifier, ...],
    record_id: str,
) -> tuple[CaseEvent, ...]:
    """The practitioners an Appointment names in a ``participant.type`` the source maps."""
    events = []
    for index, participant in enumerate(resource.participant or []):
        actor = participant.actor
        role = _role(participant.type or [], roles)
        if role is None or actor is None or not _is_practitioner(actor):
            continue
        issues: list[tuple[str, str]] = []
        practitioner_id = _practitioner_id(actor, f"Appointment.participant[{index}].actor", issues)
        if practitioner_id is None:
            raise RecordError(issues)
        change = _assigned(practitioner_id, actor, organisation_code, role)
        when = last_updated(resource, recorded_at)
        events.append(
            _event(change, when, "Appointment", record_id, subject, organisation_code, recorded_at)
        )
    return tuple(events)


class CareTeamConnector(FhirResourceConnector[CareTeam]):
    name = "fhir-careteam"
    summary = "FHIR R4 CareTeam: the practitioners in a configured role, assigned and ended"
    resource_type = "CareTeam"
    model = CareTeam

    def map(
        self, message: CareTeam, context: FhirSender, recorded_at: datetime
    ) -> Sequence[CaseEvent]:
        return careteam_to_events(
            message,
            organisation_code=context.organisation_code,
            recorded_at=recorded_at,
            roles=context.roles,
        )


class EpisodeOfCareConnector(FhirResourceConnector[EpisodeOfCare]):
    name = "fhir-episodeofcare"
    summary = "FHIR R4 EpisodeOfCare: its care manager, assigned and ended"
    resource_type = "EpisodeOfCare"
    model = EpisodeOfCare

    def map(
        self, message: EpisodeOfCare, context: FhirSender, recorded_at: datetime
    ) -> Sequence[CaseEvent]:
        return episode_to_events(
            message,
            organisation_code=context.organisation_code,
            recorded_at=recorded_at,
            roles=context.roles,
        )


def _event(
    change: Change,
    occurred_at: datetime,
    kind: str,
    record_id: str,
    subject: tuple[PersonIdentifier, ...],
    organisation_code: str,
    recorded_at: datetime,
) -> CaseEvent:
    assigning = isinstance(change, PractitionerAssigned)
    event_type = EventType.PRACTITIONER_ASSIGNED if assigning else EventType.PRACTITIONER_UNASSIGNED
    key = f"{change.organisation_code}|{change.practitioner_id}|{change.role}"
    return CaseEvent(
        # a re-sent resource is the same event; the same change stated again later is not
        event_id=deterministic_event_id(
            SOURCE_SYSTEM,
            organisation_code,
            kind,
            record_id,
            key,
            event_type,
            occurred_at.isoformat(),
        ),
        event_type=event_type,
        occurred_at=occurred_at,
        recorded_at=recorded_at,
        source=Source(system=SOURCE_SYSTEM, organisation_code=organisation_code),
        source_record_id=f"{record_id}|{key}",
        subject=subject,
        data_category=DataCategory.PRACTITIONER_ALLOCATION,
        sensitivity=Sensitivity.ROUTINE,
        payload=change,
    )


def _assigned(
    practitioner_id: str, member: Any, organisation: str, role: PractitionerRole
) -> PractitionerAssigned:
    return PractitionerAssigned(
        practitioner_id=practitioner_id,
        name=member.display or practitioner_id,
        role=role,
        organisation_code=organisation,
        scope=AssignmentScope.PERSON,
    )


def _unassigned(
    practitioner_id: str, organisation: str, role: PractitionerRole
) -> PractitionerUnassigned:
    return PractitionerUnassigned(
        practitioner_id=practitioner_id,
        organisation_code=organisation,
        role=role,
        scope=AssignmentScope.PERSON,
    )


def _patient(
    reference: Any, location: str, issues: list[tuple[str, str]]
) -> tuple[PersonIdentifier, ...] | None:
    if reference is None:
        issues.append((location, "no patient is named"))
        return None
    found = nhs_number(reference.identifier, f"{location}.identifier", issues)
    return None if found is None else (PersonIdentifier(system=NHS_NUMBER_SYSTEM, value=found),)


def _record_id(resource: Any, kind: str, issues: list[tuple[str, str]]) -> str | None:
    for identifier in resource.identifier or []:
        if identifier.value:
            return (
                f"{identifier.system}|{identifier.value}" if identifier.system else identifier.value
            )
    if resource.id:
        return str(resource.id)
    issues.append(
        (f"{kind}.identifier", f"an identifier (or id) is needed so that a re-sent {kind} is known")
    )
    return None


def _role(concepts: list[Any], roles: PractitionerRoles) -> PractitionerRole | None:
    for concept in concepts:
        for coding in concept.coding or []:
            if coding.code and coding.code in roles.codes:
                return roles.codes[coding.code]
    return None


def _is_practitioner(reference: Any) -> bool:
    kind = reference.type or (reference.reference or "").split("/", 1)[0]
    return kind in PRACTITIONER_TYPES


def _practitioner_id(reference: Any, location: str, issues: list[tuple[str, str]]) -> str | None:
    if reference.identifier is not None and reference.identifier.value:
        return str(reference.identifier.value)
    if reference.reference and "/" in reference.reference:
        return str(reference.reference.split("/", 1)[1])
    issues.append((location, "the practitioner has neither an identifier nor a reference"))
    return None


def _organisation(references: list[Any]) -> str | None:
    """The ODS code of the first organisation reference with an identifier value."""
    for reference in references:
        identifier = None if reference is None else reference.identifier
        if identifier is not None and identifier.value:
            return str(identifier.value)
    return None
