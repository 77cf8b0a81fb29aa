"""The composition root: the hub's object graph, built once from :class:`~hub.settings.Settings`.

Every process (the API, the worker, the MLLP listener, the CLI commands, ``hub replay``) asks
:func:`build_hub` for what it needs instead of wiring stores and producers by hand, so there is
one place that decides which engine, key store, agreement and sink the hub runs on. Tests pass
their own instances of the same classes through its keyword arguments.

A process that needs less than the whole hub takes the same parts from the smaller builders
below: :func:`database` (the projection database, disposed at the end), :func:`publishing` (a
sink on its own producer and the key store), :func:`open_publisher`, :func:`delivering` (the
outgoing webhooks' deliverer), :func:`projection_stores` (the projections' stores, for
``hub replay``) and :func:`stray_parties` (the start-up check). No module outside
this one, the storage and Kafka adapters and the key store opens an engine, a producer or a key
store, builds a sink or reads the agreement file (``tests/unit/test_composition_root.py``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import Engine

from hub.alerts.store import MissedAppointmentStore
from hub.alerts.timers import alert_rules
from hub.auth.store import ClientStore
from hub.connectors.partners import DEFAULT_PARTNERS_DIR, PartnerFeed, load_partners
from hub.connectors.receipts import Receipts
from hub.connectors.sources import SourceRegistry, load_sources
from hub.erasure.keystore import SubjectKeyStore, open_key_store
from hub.errorqueue.store import OrganisationOf, QuarantineStore
from hub.events import utc_now
from hub.identity.store import IdentityStore
from hub.ingest.sink import CaseEventSink
from hub.kafka.publisher import KafkaPublisher
from hub.outcomes.store import OutcomesStore
from hub.projections.registry import create_schemas
from hub.services.parties import check_parties
from hub.services.quarantine import QueueContext
from hub.services.quarantine_replay import Mappers
from hub.services.sharing_changes import ChangeStores
from hub.settings import Settings
from hub.sharing.agreement import DEFAULT_AGREEMENT, Agreement, load_agreement
from hub.sharing.change_log import ChangeLog
from hub.sharing.store import SharingStore
from hub.storage.engine import make_engine
from hub.subscriptions.delivery import Deliverer, make_deliverer
from hub.subscriptions.destinations import Destinations
from hub.subscriptions.store import SubscriptionStore
from hub.team.store import TeamStore


def agreement_of(settings: Settings) -> Agreement:
    """The data-sharing agreement the deployment names, or the default one."""
    return load_agreement(settings.agreement_path or DEFAULT_AGREEMENT)


@dataclass
class Hub:
    """Everything a process of the hub shares: stores on one engine, the sink, the agreement."""

    settings: Settings
    agreement: Agreement
    clock: Callable[[], datetime]
    alerts: MissedAppointmentStore
    sharing: SharingStore
    changes: ChangeLog
    identity: IdentityStore
    team: TeamStore
    outcomes: OutcomesStore
    keys: SubjectKeyStore
    clients: ClientStore
    partners: dict[str, PartnerFeed]
    webhook_receipts: Receipts
    subscriptions: SubscriptionStore
    destinations: Destinations
    sink: CaseEventSink
    quarantine: QuarantineStore
    _publisher: KafkaPublisher | None = field(default=None, repr=False)

    @property
    def publisher(self) -> KafkaPublisher:
        """The producer this hub opened, for a process that publishes besides its sink (the
        worker forwards entries to the family topic); :meth:`close` closes it."""
        if self._publisher is None:
            raise RuntimeError("this hub was given its sink, so it opened no producer")
        return self._publisher

    def close(self) -> None:
        """Flush and close the producer this hub opened (not one a caller passed in)."""
        if self._publisher is not None:
            self._publisher.close()
            self._publisher = None


def build_hub(
    settings: Settings,
    *,
    sink: CaseEventSink | None = None,
    alerts: MissedAppointmentStore | None = None,
    clock: Callable[[], datetime] = utc_now,
    client_id: str = "hub-api",
) -> Hub:
    """The hub for ``settings``: every store's schema created, the sink applying sharing facts.

    ``sink`` and ``alerts`` replace the ones this would build (tests pass a recording sink or a
    store with its own rules); a sink built here owns its producer, closed by :meth:`Hub.close`.
    """
    stores = build_projection_stores(settings, alerts=alerts)
    engine = stores.alerts.engine
    changes = ChangeLog(engine)
    changes.create_schema()
    clients = ClientStore(engine)
    clients.create_schema()
    subscriptions = SubscriptionStore(engine, settings.key_wrapper())
    subscriptions.create_schema()
    keys = stores.keys
    publisher = None
    if sink is None:
        publisher = open_publisher(settings, client_id)
        # Seals with the key store the erasure route shreds: one engine, not two.
        sink = CaseEventSink(publisher, settings, keys)
    return Hub(
        settings=settings,
        agreement=stores.agreement,
        clock=clock,
        alerts=stores.alerts,
        sharing=stores.sharing,
        changes=changes,
        identity=stores.identity,
        team=stores.team,
        outcomes=stores.outcomes,
        keys=keys,
        clients=clients,
        partners=load_partners(settings.partners_dir or DEFAULT_PARTNERS_DIR),
        webhook_receipts=Receipts(engine),
        subscriptions=subscriptions,
        destinations=Destinations.of(settings.subscription_allowed_networks),
        # Every write path (sharing routes, partner webhooks and uploads, timers) publishes
        # through this sink: a withdrawal it records binds the next read.
        sink=sink.applying_sharing_facts(stores.sharing),
        quarantine=stores.quarantine,
        _publisher=publisher,
    )


def error_queue(hub: Hub) -> tuple[QueueContext, Mappers]:
    """The error queue's use cases on ``hub`` (ADR 0030): what they read and write, and the
    mappings a replay maps with, read afresh at each replay (the engineer's fix in the source
    or partner files applies without a restart)."""
    settings = hub.settings
    context = QueueContext(
        hub.quarantine, hub.keys, hub.sink, settings, hub.agreement.version, hub.clock
    )
    changes = ChangeStores(
        agreement=hub.agreement,
        identity=hub.identity,
        sharing=hub.sharing,
        team=hub.team,
        alerts=hub.alerts,
        changes=hub.changes,
        clock=hub.clock,
    )
    mappers = Mappers(
        sources=lambda: sources_of(settings),
        partners=lambda: load_partners(settings.partners_dir or DEFAULT_PARTNERS_DIR),
        changes=changes,
        identity=hub.identity,
    )
    return context, mappers


def open_publisher(settings: Settings, client_id: str) -> KafkaPublisher:
    """A producer named ``client_id`` on the deployment's brokers; the caller closes it.

    Every process waits as long for the broker's confirmation (``HUB_PUBLISH_TIMEOUT_SECONDS``),
    so an acknowledgement means the same thing whichever process sent it.
    """
    return KafkaPublisher(
        settings.bootstrap_servers(),
        client_id=client_id,
        timeout_s=settings.publish_timeout_seconds,
    )


@contextmanager
def database(settings: Settings) -> Iterator[Engine]:
    """The projection database's engine for a command or a short task, disposed on the way out.

    The stores of one process share this engine; a process that needs the whole hub takes
    :attr:`Hub.alerts`'s engine instead, which :func:`build_hub` opened.
    """
    engine = make_engine(settings.resolved_database_url())
    try:
        yield engine
    finally:
        engine.dispose()


@contextmanager
def publishing(
    settings: Settings, client_id: str, *, sharing: SharingStore | None = None
) -> Iterator[CaseEventSink]:
    """A sink for a process that only writes to the log (the demo loader, the MLLP listener, an
    extract run): its own producer, sealing with the hub's key store; both closed on the way out.

    With ``sharing``, a sharing fact the process publishes binds at once, as the API's do
    (:meth:`~hub.ingest.sink.CaseEventSink.applying_sharing_facts`).
    """
    keys = open_key_store(settings)
    try:
        publisher = open_publisher(settings, client_id)
        try:
            sink = CaseEventSink(publisher, settings, keys)
            yield sink if sharing is None else sink.applying_sharing_facts(sharing)
        finally:
            publisher.close()
    finally:
        keys.engine.dispose()


@contextmanager
def delivering(settings: Settings, client_id: str) -> Iterator[Deliverer]:
    """The outgoing webhooks' deliverer for ``hub subscriptions deliver``: the alerts with the
    agreement's timers, a sink of its own for the disclosures it records; all closed on the way
    out. The worker runs the same deliverer (:func:`~hub.subscriptions.delivery.make_deliverer`)
    on its own stores."""
    agreement = agreement_of(settings)
    with database(settings) as engine:
        alerts = MissedAppointmentStore(engine, alert_rules(settings, agreement))
        alerts.create_schema()
        # The tables its sharing gate reads, made by their own stores (each makes only its own).
        SharingStore(engine).create_schema()
        IdentityStore(engine).create_schema()
        with publishing(settings, client_id) as sink:
            yield make_deliverer(settings, alerts, sink, agreement)


def stray_parties(settings: Settings) -> list[str]:
    """What :func:`~hub.services.parties.check_parties` finds for ``settings``: every process
    asks before it starts, and ``hub agreement check`` prints it."""
    agreement = agreement_of(settings)
    settings.state_dir.mkdir(parents=True, exist_ok=True)  # the SQLite file's directory
    with database(settings) as engine:
        return check_parties(settings, agreement, ClientStore(engine))


@dataclass
class ProjectionStores:
    """The projections' stores on one engine, every projection's tables created: what the
    registry (:mod:`hub.projections.registry`) builds projections from. It opens no producer,
    so a process that only folds the log (``hub replay``) connects to nothing but the broker it
    reads; :func:`build_hub` builds the rest of the hub on these."""

    settings: Settings
    agreement: Agreement
    alerts: MissedAppointmentStore
    team: TeamStore
    outcomes: OutcomesStore
    identity: IdentityStore
    sharing: SharingStore
    keys: SubjectKeyStore
    quarantine: QuarantineStore


def sources_of(settings: Settings) -> SourceRegistry:
    """The per-source configuration as it is now (``HUB_SOURCES_DIR``, else config/sources)."""
    return load_sources(settings.sources_dir) if settings.sources_dir else load_sources()


def organisation_of(settings: Settings) -> OrganisationOf:
    """Which organisation owns a refused input's source system, from the configuration: an
    HL7 sender (``application@facility``) by its sending facility, a FHIR client
    (``fhir-r4:<organisation>``) by the organisation it authenticated as, any other by its
    system name in the sources' and partners' files. None when none says: the input is then the hub
    operators' alone (ADR 0030)."""
    sources = sources_of(settings)
    owners = {
        feed.config.system: code
        for code, feed in load_partners(settings.partners_dir or DEFAULT_PARTNERS_DIR).items()
    }
    owners.update({source.system: source.organisation_code for source in sources.all()})

    def owner(system: str | None) -> str | None:
        if system is None:
            return None
        if system.startswith("fhir-r4:"):  # hub/http/fhir.py: the authenticated sender's own
            return system.removeprefix("fhir-r4:")
        _, at, facility = system.rpartition("@")
        source = sources.for_facility(facility) if at else None
        return source.organisation_code if source is not None else owners.get(system)

    return owner


def build_projection_stores(
    settings: Settings, *, alerts: MissedAppointmentStore | None = None, schemas: bool = True
) -> ProjectionStores:
    """The projection stores for ``settings`` (``alerts`` replaces the alerts store, and its
    engine is the one the others share), each projection's schema created by its own store,
    which refuses tables of an earlier shape. ``schemas=False`` creates none: ``hub replay``
    makes what is missing itself, without refusing the stale tables it is the remedy for."""
    agreement = agreement_of(settings)
    store = alerts or MissedAppointmentStore(
        make_engine(settings.resolved_database_url()), alert_rules(settings, agreement)
    )
    engine = store.engine
    stores = ProjectionStores(
        settings=settings,
        agreement=agreement,
        alerts=store,
        team=TeamStore(engine),
        outcomes=OutcomesStore(engine),
        identity=IdentityStore(engine),
        sharing=SharingStore(engine),
        keys=open_key_store(settings),
        quarantine=QuarantineStore(engine, organisation_of(settings)),
    )
    # An erasure drops the sharing facts this process keeps with the subject keys (ADR 0025),
    # and the alerts' parsed rows (ADR 0050).
    stores.keys.when_erased(stores.sharing.forget)
    stores.keys.when_erased(stores.alerts.forget)
    if schemas:
        create_schemas(stores)
    return stores


@contextmanager
def projection_stores(settings: Settings, *, schemas: bool = True) -> Iterator[ProjectionStores]:
    """:func:`build_projection_stores` for a command (``hub replay``): both engines (the
    projections' and the key store's) disposed on the way out."""
    stores = build_projection_stores(settings, schemas=schemas)
    try:
        yield stores
    finally:
        stores.alerts.engine.dispose()
        stores.keys.engine.dispose()
