"""FHIR resources and Bundles -> case-events, as pure translations.

One dispatcher for every resource type the hub takes, and the reading of ``batch``,
``transaction`` and subscription-notification (``history``, R4 subscriptions backport) Bundles
into per-entry results. Whether a bad entry sinks the whole Bundle (transaction) or only itself
(batch, notification) is decided by the HTTP layer from :attr:`BundleReading.atomic`.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final

from fhir.resources.R4B.appointment import Appointment as FhirAppointment
from fhir.resources.R4B.careteam import CareTeam
from fhir.resources.R4B.encounter import Encounter
from fhir.resources.R4B.episodeofcare import EpisodeOfCare
from fhir.resources.R4B.patient import Patient
from pydantic import BaseModel

from hub.connectors.fhir.appointment import appointment_to_event
from hub.connectors.fhir.common import MappingError, load_json, validate
from hub.connectors.fhir.encounter import encounter_to_event
from hub.connectors.fhir.patient import patient_to_event
from hub.connectors.fhir.team import appointment_team, careteam_to_events, episode_to_events
from hub.connectors.sources import PractitionerRoles
from hub.events import CaseEvent, EventType

Mapper = Callable[..., tuple[CaseEvent, ...]]
NO_ROLES: Final = PractitionerRoles()


def _one(mapper: Callable[..., CaseEvent]) -> Mapper:
    """A mapper of one resource to one event, as a mapper to events (roles unused)."""

    def mapped(
        resource: Any, *, organisation_code: str, recorded_at: datetime, roles: PractitionerRoles
    ) -> tuple[CaseEvent, ...]:
        return (mapper(resource, organisation_code=organisation_code, recorded_at=recorded_at),)

    return mapped


def _appointment(
    resource: FhirAppointment,
    *,
    organisation_code: str,
    recorded_at: datetime,
    roles: PractitionerRoles,
) -> tuple[CaseEvent, ...]:
    """The practitioners it names in a mapped role first, then the appointment's own event."""
    event = appointment_to_event(
        resource, organisation_code=organisation_code, recorded_at=recorded_at
    )
    if event.event_type is EventType.APPOINTMENT_CANCELLED:
        return (event,)
    team = appointment_team(
        resource,
        organisation_code=organisation_code,
        recorded_at=recorded_at,
        roles=roles,
        subject=event.subject,
        record_id=event.source_record_id,
    )
    return (*team, event)


RESOURCES: Final[dict[str, tuple[type[BaseModel], Mapper]]] = {
    "Appointment": (FhirAppointment, _appointment),
    "Patient": (Patient, _one(patient_to_event)),
    "Encounter": (Encounter, _one(encounter_to_event)),
    "CareTeam": (CareTeam, careteam_to_events),
    "EpisodeOfCare": (EpisodeOfCare, episode_to_events),
}
BUNDLE_TYPES: Final = frozenset({"batch", "transaction", "history"})
# Entries of a subscription notification that describe the subscription, not the data.
STATUS_RESOURCES: Final = frozenset({"Parameters", "SubscriptionStatus"})


def resource_to_events(
    data: dict[str, Any],
    *,
    organisation_code: str,
    recorded_at: datetime,
    roles: PractitionerRoles = NO_ROLES,
    at: str = "",
) -> tuple[CaseEvent, ...]:
    """The case-events for one resource (the resource's own last); issue locations are
    prefixed with ``at`` if given. ``roles`` are the sender's (its config/sources file)."""
    kind = data.get("resourceType")
    if not isinstance(kind, str) or kind not in RESOURCES:
        where = f"{at}.resourceType" if at else "resourceType"
        raise MappingError(
            [(where, f"{kind!r} is not taken; the hub takes {', '.join(sorted(RESOURCES))}")]
        )
    model, mapper = RESOURCES[kind]
    try:
        resource = validate(data, model)
        return mapper(
            resource, organisation_code=organisation_code, recorded_at=recorded_at, roles=roles
        )
    except MappingError as error:
        if not at:
            raise
        moved = [
            (at + loc.removeprefix(kind), msg) if loc.startswith(kind) else (f"{at}.{loc}", msg)
            for loc, msg in error.issues
        ]
        raise MappingError(moved) from None


@dataclass(frozen=True)
class EntryResult:
    index: int
    raw: bytes
    events: tuple[CaseEvent, ...] = ()
    error: MappingError | None = None

    @property
    def event(self) -> CaseEvent | None:
        """The entry's own event (after any team changes it names)."""
        return self.events[-1] if self.events else None


@dataclass(frozen=True)
class BundleReading:
    bundle_type: str
    entries: tuple[EntryResult, ...]

    @property
    def atomic(self) -> bool:
        return self.bundle_type == "transaction"

    def issues(self) -> list[tuple[str, str]]:
        return [issue for e in self.entries if e.error for issue in e.error.issues]


def read_bundle(
    body: bytes,
    *,
    organisation_code: str,
    recorded_at: datetime,
    roles: PractitionerRoles = NO_ROLES,
) -> BundleReading:
    data = load_json(body, "Bundle")
    if data.get("resourceType") != "Bundle":
        raise MappingError(
            [("resourceType", f"expected 'Bundle', got {data.get('resourceType')!r}")]
        )
    bundle_type = data.get("type")
    if not isinstance(bundle_type, str) or bundle_type not in BUNDLE_TYPES:
        raise MappingError(
            [
                (
                    "Bundle.type",
                    f"type {bundle_type!r} is not taken; the hub takes "
                    f"{', '.join(sorted(BUNDLE_TYPES))}",
                )
            ]
        )
    entries = data.get("entry") or []
    if not isinstance(entries, list):
        raise MappingError([("Bundle.entry", "must be a list")])
    results = []
    for index, entry in enumerate(entries):
        at = f"Bundle.entry[{index}].resource"
        resource = entry.get("resource") if isinstance(entry, dict) else None
        raw = json.dumps(entry).encode()
        if not isinstance(resource, dict):
            results.append(
                EntryResult(index, raw, error=MappingError([(at, "entry has no resource")]))
            )
            continue
        kind = resource.get("resourceType")
        if bundle_type == "history" and isinstance(kind, str) and kind in STATUS_RESOURCES:
            continue  # the notification's SubscriptionStatus, not data
        try:
            events = resource_to_events(
                resource,
                organisation_code=organisation_code,
                recorded_at=recorded_at,
                roles=roles,
                at=at,
            )
        except MappingError as error:
            results.append(EntryResult(index, raw, error=error))
        else:
            results.append(EntryResult(index, raw, events=events))
    return BundleReading(str(bundle_type), tuple(results))
