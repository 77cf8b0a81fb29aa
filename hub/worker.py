"""The Faust worker: the runtime shell that feeds case-events to the projection runner.

Faust gives consumer-group membership, partition assignment and offset commits; everything the
hub decides happens in :class:`hub.projections.runner.ProjectionRunner`. Processing is
at-least-once (Faust's default ``processing_guarantee``), made effectively-once by the store's
log positions and deterministic ids (ADR 0004), not by Faust's ``exactly_once``.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from typing import Any

import faust

from hub.avro_codec import disclosure_codec
from hub.erasure.keystore import SubjectKeyStore
from hub.erasure.log import CaseEventLog
from hub.erasure.sealing import LogEntry
from hub.events import utc_now
from hub.identity.routing import FamilyRouter
from hub.identity.store import IdentityStore
from hub.projections.runner import ProjectionRunner
from hub.projections.store import MissedAppointmentStore, make_engine
from hub.projections.team_store import TeamStore
from hub.projections.timers import AlertTimers, alert_rules
from hub.publisher import KafkaPublisher, PublishError
from hub.settings import Settings
from hub.sharing.agreement import DEFAULT_AGREEMENT, load_agreement
from hub.sharing.store import SharingStore
from hub.sink import CaseEventSink
from hub.subscriptions.delivery import make_deliverer
from hub.subscriptions.partner_topics import make_partner_topics

log = logging.getLogger(__name__)


def broker_urls(bootstrap_servers: str) -> list[str]:
    return [f"kafka://{server.strip()}" for server in bootstrap_servers.split(",") if server]


def create_app(settings: Settings) -> tuple[faust.App, KafkaPublisher]:
    """Build the Faust app; nothing connects until the worker starts it."""
    servers = settings.bootstrap_servers()
    app = faust.App(
        settings.worker_group,
        broker=broker_urls(servers),
        store="memory://",
        web_enabled=False,
        topic_partitions=settings.topic_partitions,
        topic_replication_factor=settings.topic_replication_factor,
        consumer_auto_offset_reset="earliest",
        broker_commit_interval=1.0,
    )
    engine = make_engine(settings.resolved_database_url())
    agreement = load_agreement(settings.agreement_path or DEFAULT_AGREEMENT)
    rules = alert_rules(settings, agreement)
    alerts, sharing, identity, keys = (
        MissedAppointmentStore(engine, rules),
        SharingStore(engine),
        IdentityStore(engine),
        SubjectKeyStore(engine),
    )
    team = TeamStore(engine)
    alerts.create_schema()
    team.create_schema()
    keys.create_schema()
    publisher = KafkaPublisher(servers, client_id=f"{settings.worker_group}-producer")
    sink = CaseEventSink(publisher, settings, keys)
    registry = settings.schema_registry_url
    # Two stages (ADR 0010): the person index reads the case-events as connectors keyed them,
    # then forwards each entry to the family topic keyed by family, which every other
    # projection reads. The key store comes last: it forgets what an erasure was to purge only
    # after every projection has deleted its rows.
    router = FamilyRouter(identity, publisher, settings.family_events_topic)
    case_events: ProjectionRunner[LogEntry] = ProjectionRunner(
        [identity.apply],
        CaseEventLog(keys, settings.case_events_topic, registry),
        sink,
        settings.dead_letter_topic,
        then=router.forward,
    )
    family_events: ProjectionRunner[LogEntry] = ProjectionRunner(
        [alerts.apply, team.apply, sharing.apply, keys.apply],
        CaseEventLog(keys, settings.family_events_topic, registry),
        sink,
        settings.dead_letter_topic,
    )
    disclosures = ProjectionRunner(
        [sharing.apply_disclosure],
        disclosure_codec(settings.disclosures_topic, registry),
        sink,
        settings.dead_letter_topic,
    )
    timers = AlertTimers(alerts, sink, rules, utc_now)

    async def alert_timers() -> None:
        """Inferred no-shows and escalations; what fails to publish is due again next time."""
        try:
            await timers.sweep()
        except PublishError as error:
            log.warning("alert timers: publishing failed, retrying next sweep: %s", error)

    app.timer(interval=settings.alert_sweep_seconds)(alert_timers)
    deliverer = make_deliverer(settings, alerts, sink, agreement)

    async def deliver_webhooks() -> None:
        """Push new alert changes to the webhook subscriptions (ADR 0016). A failing run is
        logged, never fatal to the projections: the cursors only move past what was dealt with,
        so the next run picks up where this one stopped."""
        try:
            report = await deliverer.run_once()
        except Exception:
            log.exception("webhooks: the delivery run failed; retrying next interval")
            return
        if report.skipped:  # e.g. the old leader's run still going during a rebalance
            log.info("webhooks: another runner holds the delivery lease; not this time")
        elif report.delivered or report.retrying or report.dead_lettered or report.stopped:
            log.info("webhooks: %s", report)

    # On the leader only: with several workers, one pushes (no duplicate sends or disclosures).
    app.timer(interval=settings.subscription_interval_seconds, on_leader=True)(deliver_webhooks)
    if settings.partner_topic_clients:
        partner_topics = make_partner_topics(settings, alerts, sink, agreement, publisher)

        async def relay_partner_topics() -> None:
            """Write new alert changes to the partners' own topics (the leader only, too)."""
            try:
                report = await partner_topics.run_once()
            except PublishError as error:  # the cursor did not move: retried next time
                log.warning("partner topics: publishing failed, retrying: %s", error)
                return
            if report.not_leaseholder:
                log.info("partner topics: another relay holds the lease; not this time")
            elif report.written or report.tombstones:
                log.info("partner topics: %s", report)

        app.timer(interval=settings.subscription_interval_seconds, on_leader=True)(
            relay_partner_topics
        )

    _agent(app, settings.case_events_topic, "person_index", case_events)
    _agent(app, settings.family_events_topic, "family_projections", family_events)
    _agent(app, settings.disclosures_topic, "disclosure_log", disclosures)
    return app, publisher


def _agent(app: faust.App, topic_name: str, name: str, runner: ProjectionRunner[Any]) -> None:
    """One Faust agent: hand every entry of ``topic_name`` to ``runner`` in partition order."""
    topic = app.topic(topic_name, key_serializer="raw", value_serializer="raw", internal=False)

    async def agent(stream: Any) -> AsyncIterator[None]:
        async for event in stream.events():
            message = event.message
            await runner.handle(
                message.topic, message.partition, message.offset, event.value, message.key
            )
            yield None

    app.agent(topic, name=name)(agent)


def run_worker(settings: Settings, *, loglevel: str = "info") -> None:
    """Run until SIGINT/SIGTERM (blocking)."""
    from faust.worker import Worker

    app, publisher = create_app(settings)
    logging.getLogger("hub").setLevel(loglevel.upper())
    try:
        Worker(app, loglevel=loglevel).execute_from_commandline()
    finally:
        publisher.close()
