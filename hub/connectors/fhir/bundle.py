"""FHIR resources and Bundles -> case-events, as pure translations.

One dispatcher to the connector of every resource type the hub takes (:data:`RESOURCES`), and
the reading of ``batch``, ``transaction`` and subscription-notification (``history``, R4
subscriptions backport) Bundles into per-entry results. Whether a bad entry sinks the whole
Bundle (transaction) or only itself (batch, notification) is decided by the HTTP layer from
:attr:`BundleReading.atomic`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final

from hub.connectors.fhir.appointment import AppointmentConnector
from hub.connectors.fhir.common import FhirResourceConnector, FhirSender, load_json
from hub.connectors.fhir.encounter import EncounterConnector
from hub.connectors.fhir.patient import PatientConnector
from hub.connectors.fhir.team import CareTeamConnector, EpisodeOfCareConnector
from hub.connectors.sdk import RecordError
from hub.connectors.sources import PractitionerRoles
from hub.events import CaseEvent

NO_ROLES: Final = PractitionerRoles()
RESOURCES: Final[dict[str, FhirResourceConnector[Any]]] = {
    connector.resource_type: connector
    for connector in (
        AppointmentConnector(),
        PatientConnector(),
        EncounterConnector(),
        CareTeamConnector(),
        EpisodeOfCareConnector(),
    )
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
    identifier_systems: frozenset[str] = frozenset(),
    at: str = "",
) -> tuple[CaseEvent, ...]:
    """The case-events for one resource (the resource's own last); issue locations are
    prefixed with ``at`` if given. ``roles`` are the sender's (its config/sources file)."""
    kind = data.get("resourceType")
    if not isinstance(kind, str) or kind not in RESOURCES:
        where = f"{at}.resourceType" if at else "resourceType"
        raise RecordError(
            [(where, f"{kind!r} is not taken; the hub takes {', '.join(sorted(RESOURCES))}")]
        )
    connector = RESOURCES[kind]
    try:
        resource = connector.parse(data)
        sender = FhirSender(organisation_code, roles, identifier_systems)
        return tuple(connector.map(resource, sender, recorded_at))
    except RecordError as error:
        if not at:
            raise
        moved = [
            (at + loc.removeprefix(kind), msg) if loc.startswith(kind) else (f"{at}.{loc}", msg)
            for loc, msg in error.issues
        ]
        raise RecordError(moved) from None


@dataclass(frozen=True)
class EntryResult:
    """One Bundle entry (its position, its JSON): its events, or the refusal of it."""

    index: int
    raw: bytes
    events: tuple[CaseEvent, ...] = ()
    error: RecordError | None = None

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
    identifier_systems: frozenset[str] = frozenset(),
) -> BundleReading:
    data = load_json(body, "Bundle")
    if data.get("resourceType") != "Bundle":
        raise RecordError(
            [("resourceType", f"expected 'Bundle', got {data.get('resourceType')!r}")]
        )
    bundle_type = data.get("type")
    if not isinstance(bundle_type, str) or bundle_type not in BUNDLE_TYPES:
        raise RecordError(
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
        raise RecordError([("Bundle.entry", "must be a list")])
    results = []
    for index, entry in enumerate(entries):
        at = f"Bundle.entry[{index}].resource"
        resource = entry.get("resource") if isinstance(entry, dict) else None
        raw = json.dumps(entry).encode()
        if not isinstance(resource, dict):
            results.append(
                EntryResult(index, raw, error=RecordError([(at, "entry has no resource")]))
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
                identifier_systems=identifier_systems,
                at=at,
            )
        except RecordError as error:
            results.append(EntryResult(index, raw, error=error))
        else:
            results.append(EntryResult(index, raw, events=events))
    return BundleReading(str(bundle_type), tuple(results))
