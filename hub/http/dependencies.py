"""The routes' typed dependencies: one getter per store or service of the one :class:`Hub`.

The API's lifespan builds the hub once (:func:`hub.bootstrap.build_hub`) and :func:`attach`
keeps it on the app; this module is the only one that reads it back. A route names what it
needs by type — ``alerts: AlertsDep``, ``sink: SinkDep``, ``reader: Reader`` — and FastAPI
calls the getter, so mypy checks every use and nothing else casts ``app.state`` by hand (a
test holds ``hub/http`` to that). The getters read nothing of the request but its app (and,
for :data:`Reference`, its method and path), so they add no parameter to the OpenAPI document.

The reader is authenticated here too: :func:`authenticated_client` checks the credential the
request presents (:func:`hub.http.authentication.authenticate`) and :func:`reader_identity` is
that client's organisation, role and user — the recipient every route hands to the sharing gate.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Annotated

from fastapi import Depends, FastAPI, Request, Security
from prometheus_client.registry import CollectorRegistry
from starlette.types import ASGIApp

from hub.alerts.store import MissedAppointmentStore
from hub.auth.store import Client, ClientStore
from hub.bootstrap import Hub, error_queue
from hub.connectors.partners import PartnerFeed
from hub.connectors.receipts import Receipts
from hub.erasure.keystore import SubjectKeyStore
from hub.http.authentication import API_KEY_SCHEME, BEARER_SCHEME, SESSION_SCHEME, authenticate
from hub.identity.store import IdentityStore
from hub.ingest.sink import CaseEventSink
from hub.outcomes.store import OutcomesStore
from hub.services.quarantine import QueueContext
from hub.services.quarantine_replay import Mappers
from hub.services.release import SharingContext
from hub.services.sharing_changes import ChangeStores
from hub.sharing.agreement import Agreement
from hub.sharing.change_log import ChangeLog
from hub.sharing.policy import Recipient
from hub.sharing.store import SharingStore
from hub.subscriptions.destinations import Destinations
from hub.subscriptions.store import SubscriptionStore
from hub.team.store import TeamStore


def attach(app: FastAPI, hub: Hub, metrics: CollectorRegistry) -> None:
    """Keep the hub (and the metrics registry over its store) for the app's requests."""
    app.state.hub = hub
    app.state.metrics = metrics


def running_hub(app: ASGIApp) -> Hub:
    """The hub the app's lifespan built; for code that has the app but no request (tests)."""
    hub = getattr(getattr(app, "state", None), "hub", None)
    if not isinstance(hub, Hub):
        raise RuntimeError("the API's lifespan has not run: no hub is attached to the app")
    return hub


def hub_of(request: Request) -> Hub:
    """The hub serving ``request``."""
    return running_hub(request.app)


HubDep = Annotated[Hub, Depends(hub_of)]


def metrics_of(request: Request) -> CollectorRegistry:
    """The registry ``/metrics`` exposes (built over the hub's store, ADR 0018)."""
    registry = getattr(request.app.state, "metrics", None)
    if not isinstance(registry, CollectorRegistry):
        raise RuntimeError("the API's lifespan has not run: no metrics registry is attached")
    return registry


MetricsDep = Annotated[CollectorRegistry, Depends(metrics_of)]


def reference_of(request: Request) -> str:
    """What the change log and the disclosure log call this request: ``METHOD /path``."""
    return f"{request.method} {request.url.path}"


Reference = Annotated[str, Depends(reference_of)]


def agreement(hub: HubDep) -> Agreement:
    return hub.agreement


def clock(hub: HubDep) -> Callable[[], datetime]:
    """The hub's clock: what the sharing rules and the records take as now."""
    return hub.clock


def alerts_store(hub: HubDep) -> MissedAppointmentStore:
    return hub.alerts


def sharing_store(hub: HubDep) -> SharingStore:
    return hub.sharing


def change_log(hub: HubDep) -> ChangeLog:
    return hub.changes


def identity_store(hub: HubDep) -> IdentityStore:
    return hub.identity


def team_store(hub: HubDep) -> TeamStore:
    return hub.team


def outcomes_store(hub: HubDep) -> OutcomesStore:
    return hub.outcomes


def key_store(hub: HubDep) -> SubjectKeyStore:
    return hub.keys


def client_store(hub: HubDep) -> ClientStore:
    return hub.clients


def partner_feeds(hub: HubDep) -> dict[str, PartnerFeed]:
    return hub.partners


def webhook_receipts(hub: HubDep) -> Receipts:
    return hub.webhook_receipts


def subscription_store(hub: HubDep) -> SubscriptionStore:
    return hub.subscriptions


def destinations(hub: HubDep) -> Destinations:
    return hub.destinations


def sink(hub: HubDep) -> CaseEventSink:
    """The sink every write publishes through (it folds sharing facts at once)."""
    return hub.sink


def sharing_context(hub: HubDep) -> SharingContext:
    """The gate-and-record path on the hub's stores, sink and clock."""
    return SharingContext(hub.agreement, hub.sharing, hub.identity, hub.sink, hub.clock)


def change_stores(hub: HubDep) -> ChangeStores:
    """What deciding and logging a change to sharing needs, from the hub."""
    return ChangeStores(
        agreement=hub.agreement,
        identity=hub.identity,
        sharing=hub.sharing,
        team=hub.team,
        alerts=hub.alerts,
        changes=hub.changes,
        clock=hub.clock,
    )


def error_queue_of(hub: HubDep) -> tuple[QueueContext, Mappers]:
    """The error queue's use cases on the hub (ADR 0030)."""
    return error_queue(hub)


AgreementDep = Annotated[Agreement, Depends(agreement)]
ClockDep = Annotated[Callable[[], datetime], Depends(clock)]
AlertsDep = Annotated[MissedAppointmentStore, Depends(alerts_store)]
SharingDep = Annotated[SharingStore, Depends(sharing_store)]
ChangesDep = Annotated[ChangeLog, Depends(change_log)]
IdentityDep = Annotated[IdentityStore, Depends(identity_store)]
TeamDep = Annotated[TeamStore, Depends(team_store)]
OutcomesDep = Annotated[OutcomesStore, Depends(outcomes_store)]
KeysDep = Annotated[SubjectKeyStore, Depends(key_store)]
ClientsDep = Annotated[ClientStore, Depends(client_store)]
PartnersDep = Annotated[dict[str, PartnerFeed], Depends(partner_feeds)]
ReceiptsDep = Annotated[Receipts, Depends(webhook_receipts)]
SubscriptionsDep = Annotated[SubscriptionStore, Depends(subscription_store)]
DestinationsDep = Annotated[Destinations, Depends(destinations)]
SinkDep = Annotated[CaseEventSink, Depends(sink)]
SharingContextDep = Annotated[SharingContext, Depends(sharing_context)]
ChangeStoresDep = Annotated[ChangeStores, Depends(change_stores)]
QueueDep = Annotated[tuple[QueueContext, Mappers], Depends(error_queue_of)]


def authenticated_client(
    request: Request,
    clients: ClientsDep,
    _bearer_scheme: Annotated[object, Security(BEARER_SCHEME)] = None,
    _api_key_scheme: Annotated[object, Security(API_KEY_SCHEME)] = None,
    _session_scheme: Annotated[object, Security(SESSION_SCHEME)] = None,
) -> Client:
    """The registered client the request's credential proves; 401 otherwise (the schemes are
    declared for the OpenAPI document; :func:`authenticate` reads the raw values)."""
    return authenticate(request, clients)


ClientDep = Annotated[Client, Depends(authenticated_client)]


def reader_identity(client: ClientDep) -> Recipient:
    """The authenticated client's organisation, role and user: who is reading."""
    return client.recipient()


Reader = Annotated[Recipient, Depends(reader_identity)]
