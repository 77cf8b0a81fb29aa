"""The Faust worker: the runtime shell that feeds case-events to the projection runner.

Faust gives consumer-group membership, partition assignment and offset commits; everything the
hub decides happens in :class:`hub.projections.runner.ProjectionRunner`. Processing is
at-least-once (Faust's default ``processing_guarantee``), made effectively-once by the store's
log positions and deterministic ids (ADR 0004), not by Faust's ``exactly_once``.
"""

from __future__ import annotations

import asyncio
import logging
import os
import sys
from collections.abc import AsyncIterator, Callable, Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from typing import Any, NamedTuple, cast

import faust
import uvloop
from faust.tables.recovery import RebalanceAgain
from faust.transport.consumer import Consumer
from faust.types import TP
from sqlalchemy import Engine
from sqlalchemy.exc import OperationalError

from hub.alerts.timers import AlertTimers, alert_rules
from hub.bootstrap import Hub, build_hub
from hub.disclosures import Disclosure
from hub.erasure.handoff import OpenedEntries
from hub.erasure.log import CaseEventLog
from hub.erasure.sealing import LogEntry
from hub.errorqueue.fold import Refusal
from hub.errorqueue.log import DeadLetterLog, QuarantineLog
from hub.identity.routing import FamilyRouter, may_rekey_others
from hub.ingest.records import disclosure_log
from hub.kafka.admin import ensure_topics
from hub.kafka.publisher import KafkaPublisher, PublishError
from hub.projections.ports import LogMessage, Step
from hub.projections.registry import (
    PROJECTIONS,
    ProjectionSpec,
    TopicRole,
    runner_applies,
)
from hub.projections.resume import rewinds, stored_positions, stored_projections
from hub.projections.runner import ProjectionRunner
from hub.projections.watchdog import Watchdog
from hub.settings import Settings
from hub.subscriptions.delivery import make_deliverer
from hub.subscriptions.partner_topics import make_partner_topics

log = logging.getLogger(__name__)


def broker_urls(bootstrap_servers: str) -> list[str]:
    return [f"kafka://{server.strip()}" for server in bootstrap_servers.split(",") if server]


def create_app(
    settings: Settings, projections: Sequence[ProjectionSpec[Any]] = PROJECTIONS
) -> tuple[faust.App, KafkaPublisher]:
    """Build the Faust app on the hub :func:`~hub.bootstrap.build_hub` makes, running
    ``projections`` (the registry's list); nothing connects until the worker starts it."""
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
        consumer_group_instance_id=settings.worker_instance_id,
        # Faust's own local state (none of the hub's: the stores are SQL) stays with the
        # hub's, not in whatever directory the worker was started from.
        datadir=str(settings.state_dir / "faust" / settings.worker_group),
    )
    hub = build_hub(settings, client_id=f"{settings.worker_group}-producer")
    hub.keys.create_schema()
    engine, alerts, sink, agreement = hub.alerts.engine, hub.alerts, hub.sink, hub.agreement
    publisher = hub.publisher
    rules = alert_rules(settings, agreement)
    schemas = settings.schema_registry_url
    # Every runner's projections come from the one list (hub.projections.registry), in order;
    # on the family topic the erasure steps follow them: the key store forgets what an erasure
    # was to purge only after every projection has deleted its rows.
    applies = runner_applies(hub, projections)
    case_events, family_events = stage_runners(hub, settings, applies)
    disclosures: ProjectionRunner[Disclosure] = ProjectionRunner(
        applies[TopicRole.DISCLOSURES],
        disclosure_log(hub.keys, settings.disclosures_topic, schemas),
        sink,
        settings.dead_letter_topic,
    )
    # The error queue (ADR 0030) folds what was refused: quarantined input and dead letters.
    quarantine: ProjectionRunner[Refusal] = ProjectionRunner(
        applies[TopicRole.QUARANTINE],
        QuarantineLog(hub.keys, settings.quarantine_topic, schemas),
        sink,
        settings.dead_letter_topic,
    )
    dead_letters: ProjectionRunner[Refusal] = ProjectionRunner(
        applies[TopicRole.DEAD_LETTERS],
        DeadLetterLog(settings.dead_letter_topic, schemas),
        sink,
        settings.dead_letter_topic,
    )
    timers = AlertTimers(alerts, sink, rules, hub.clock)

    async def alert_timers() -> None:
        """Inferred no-shows and escalations; what fails to publish, or finds the store down, is
        due again next time (the decisions go on the log, so nothing is half done)."""
        try:
            await timers.sweep()
        except (PublishError, OperationalError) as error:
            log.warning("alert timers: failed, retrying next sweep: %s", error)

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

    async def purge_error_queue() -> None:
        """Error-queue items last seen longer ago than the quarantine topic keeps its records
        (``HUB_QUARANTINE_RETENTION_DAYS``, ADR 0030) are deleted; a failing run is retried
        next hour."""
        cutoff = hub.clock() - timedelta(days=settings.quarantine_retention_days)
        queue = hub.quarantine
        try:
            removed = await asyncio.to_thread(lambda: queue.purge(queue.last_seen_before(cutoff)))
        except OperationalError as error:
            log.warning("error queue: purge failed, retrying next hour: %s", error)
            return
        if removed:
            log.info("error queue: %d item(s) past retention purged", removed)

    app.timer(interval=3600.0, on_leader=True)(purge_error_queue)
    # On the leader only: with several workers, one pushes (no duplicate sends or disclosures).
    app.timer(interval=settings.subscription_interval_seconds, on_leader=True)(deliver_webhooks)
    if settings.partner_topic_clients:
        partner_topics = make_partner_topics(settings, alerts, sink, agreement, publisher)

        async def relay_partner_topics() -> None:
            """Write new alert changes to the partners' own topics (the leader only, too)."""
            try:
                report = await partner_topics.run_once()
            except (PublishError, OperationalError) as error:  # the cursor did not move
                log.warning("partner topics: failed, retrying next interval: %s", error)
                return
            if report.not_leaseholder:
                log.info("partner topics: another relay holds the lease; not this time")
            elif report.written or report.tombstones:
                log.info("partner topics: %s", report)

        app.timer(interval=settings.subscription_interval_seconds, on_leader=True)(
            relay_partner_topics
        )

    # A hung batch ends the worker for its supervisor to restart (ADR 0018); started with the
    # worker, so building the app in a test process arms nothing.
    watchdog = Watchdog(settings.worker_stall_seconds)

    async def start_watchdog() -> None:
        watchdog.start()

    app.task(start_watchdog)
    batches = (settings.worker_batch_max, settings.batch_within_s())
    # An entry that may move other subjects into a family starts a new part of the person
    # index's batch, so each entry is forwarded under the family it had once applied (ADR 0010).
    _agent(
        app,
        settings.case_events_topic,
        "person_index",
        case_events,
        watchdog,
        batches,
        cut_before=may_rekey_others,
    )
    _agent(
        app, settings.family_events_topic, "family_projections", family_events, watchdog, batches
    )
    # The side topics are quiet and no one waits on them by the second: their take loops wake
    # less often (ADR 0036), since each wake of an idle loop costs the event loop as much as a
    # few events do, and five loops at 20 ms were a few per cent of the worker's CPU.
    side = (settings.worker_batch_max, max(batches[1], SIDE_TOPICS_WITHIN_S))
    _agent(app, settings.disclosures_topic, "disclosure_log", disclosures, watchdog, side)
    _agent(app, settings.quarantine_topic, "error_queue", quarantine, watchdog, side)
    _agent(app, settings.dead_letter_topic, "dead_letters", dead_letters, watchdog, side)
    _resume_from_store(app, engine, stored_projections(settings, projections))
    return app, publisher


class Stages(NamedTuple):
    """The two stages of ADR 0010, each a runner of its topic's projections."""

    case_events: ProjectionRunner[LogEntry]
    family_events: ProjectionRunner[LogEntry]


def stage_runners(
    hub: Hub, settings: Settings, applies: Mapping[TopicRole, list[Step[Any]]]
) -> Stages:
    """The person index reads the case-events as connectors keyed them, then forwards each
    entry to the family topic keyed by family (its ``then``), which every other projection
    reads. What the Faust agents feed; a runtime of another kind would feed the same two.

    The family topic's reader takes the events the person index opened from the same bytes
    rather than opening them again (:mod:`hub.erasure.handoff`, ADR 0049)."""
    schemas = settings.schema_registry_url
    router = FamilyRouter(hub.identity, hub.publisher, settings.family_events_topic)
    opened = OpenedEntries.for_key_store(hub.keys)
    return Stages(
        ProjectionRunner(
            applies[TopicRole.CASE_EVENTS],
            CaseEventLog(hub.keys, settings.case_events_topic, schemas, keep_opened=opened),
            hub.sink,
            settings.dead_letter_topic,
            then=router,
        ),
        ProjectionRunner(
            applies[TopicRole.FAMILY_EVENTS],
            CaseEventLog(hub.keys, settings.family_events_topic, schemas, take_opened=opened),
            hub.sink,
            settings.dead_letter_topic,
        ),
    )


# How long the side topics' agents (disclosures, quarantine, dead letters) wait for a batch to
# fill, at least: what an entry there may wait before it is applied.
SIDE_TOPICS_WITHIN_S = 0.25


def _resume_from_store(app: faust.App, engine: Engine, stored: Mapping[str, Sequence[str]]) -> None:
    """Make the store's positions the truth on every assignment (ADR 0004).

    Faust's recovery sends ``on_rebalance_complete`` and then seeks every partition to the
    group's committed offset. This receiver runs first: where a partition's projections hold
    less than the group committed, it commits the lower offset, so that seek lands there. The
    decision is :func:`hub.projections.resume.rewinds`; this is only the Faust plumbing.
    """

    async def rewind(sender: Any, /, *args: Any, signal: Any, **kwargs: Any) -> None:
        try:
            await _rewind(cast(Consumer, app.consumer), engine, stored)
        except RebalanceAgain:
            raise  # Faust's recovery waits for the next assignment, which rewinds again
        except Exception:
            # Resuming at the group's offsets instead could skip what the store lacks.
            _die("a partition assignment (resuming from the store's positions)")

    app.on_rebalance_complete.connect(rewind)


async def _rewind(consumer: Consumer, engine: Engine, stored: Mapping[str, Sequence[str]]) -> None:
    """Commit the lower offsets :func:`rewinds` decides, before Faust seeks to the committed."""
    assigned = [tp for tp in consumer.assignment() if tp.topic in stored]
    if not assigned:
        return
    committed = {
        (tp.topic, tp.partition): offset
        for tp, offset in (await consumer.seek_to_committed()).items()
    }
    starts = {
        (tp.topic, tp.partition): offset
        for tp, offset in (await consumer.earliest_offsets(*assigned)).items()
    }
    targets: dict[TP, int] = {}
    for topic, projections in stored.items():
        partitions = [tp.partition for tp in assigned if tp.topic == topic]
        if not partitions:
            continue
        positions = await asyncio.to_thread(
            stored_positions, engine, projections, topic, partitions
        )
        decided = rewinds(
            positions,
            {partition: committed.get((topic, partition)) for partition in partitions},
            {partition: starts.get((topic, partition), 0) for partition in partitions},
        )
        targets.update({TP(topic, partition): offset for partition, offset in decided.items()})
    if not targets:
        return
    for tp, offset in sorted(targets.items()):
        log.warning(
            "%s[%d]: the store holds less than the group committed (%s); resuming from %d",
            tp.topic,
            tp.partition,
            committed.get((tp.topic, tp.partition)),
            offset,
        )
    # A raw commit of lower offsets (Faust's own commit only ever moves forward).
    if not await consumer._commit(targets):  # False only when the group rebalanced again
        raise RebalanceAgain(f"rewinding to the store's positions: {targets}")
    # aiokafka's seek to committed ignores an offset of 0, so seek there ourselves.
    from_start = {tp: offset for tp, offset in targets.items() if offset == 0}
    if from_start:
        await consumer.seek_wait(from_start)


def _agent(
    app: faust.App,
    topic_name: str,
    name: str,
    runner: ProjectionRunner[Any],
    watchdog: Watchdog,
    batches: tuple[int, float],
    cut_before: Callable[[bytes | None], bool] | None = None,
) -> None:
    """One Faust agent: hand ``topic_name``'s entries to ``runner`` a batch at a time, each
    partition's share in partition order.

    ``stream.take_events(max_, within=)`` yields up to ``max_`` events, or what came within
    ``within`` seconds, and acks them (so Faust may commit their offsets) only when the agent
    asks for the next batch: after :meth:`ProjectionRunner.handle_batch` has returned for every
    partition of this one, its positions and forwards durable. An exception ends the process
    before that, so nothing past what the store holds is committed; and where the group is
    ahead of the store all the same, the next assignment rewinds (:func:`_resume_from_store`).

    ``cut_before`` (given the entry's ``hub-event-type`` header) starts a new part of the batch
    before an entry whose apply must not be seen by the entries that arrived before it (the
    person index's re-keying entries, :func:`hub.identity.routing.may_rekey_others`).
    """
    topic = app.topic(topic_name, key_serializer="raw", value_serializer="raw", internal=False)
    most, within_s = batches

    async def agent(stream: Any) -> AsyncIterator[None]:
        async for events in stream.take_events(most, within=within_s):
            received = [
                Received(
                    event.message.topic,
                    event.message.partition,
                    event.message.offset,
                    event.value,
                    event.message.key,
                    cut_before is not None and cut_before(_event_type(event.message.headers)),
                )
                for event in events
            ]
            parts = by_partition(received)
            if parts:
                (entries_topic, first_partition), first_part = parts[0]
                first = first_part[0].offset
                try:
                    with watchdog.watch(entries_topic, first_partition, first):
                        await runner.handle_parts(
                            entries_topic, [(partition, run) for (_, partition), run in parts]
                        )
                except Exception:
                    _die(
                        f"{entries_topic}[{first_partition}]@{first} "
                        f"(the first of a batch of {len(received)})"
                    )
            yield None

    app.agent(topic, name=name)(agent)


class Received(NamedTuple):
    """One entry of a batch as the runtime delivered it; ``cut`` starts a new part before it."""

    topic: str
    partition: int
    offset: int
    value: bytes
    key: bytes | None
    cut: bool = False


def by_partition(received: Iterable[Received]) -> list[tuple[tuple[str, int], list[LogMessage]]]:
    """A batch as received, in the order to hand it to the runner: parts cut before each entry
    marked ``cut`` (what arrived before it is applied first), and in each part one run per
    partition, in the order the partitions first appear, each in arrival order. A partition's
    offset going back (a seek after a rebalance) starts a new run, so each run rises as a
    store expects."""
    ordered: list[tuple[tuple[str, int], list[LogMessage]]] = []
    part: dict[tuple[str, int], list[list[LogMessage]]] = {}

    def close() -> None:
        ordered.extend((where, run) for where, runs in part.items() for run in runs if run)
        part.clear()

    for entry in received:
        if entry.cut:
            close()
        runs = part.setdefault((entry.topic, entry.partition), [[]])
        if runs[-1] and entry.offset <= runs[-1][-1].offset:
            runs.append([])
        runs[-1].append(LogMessage(entry.offset, entry.value, entry.key))
    close()
    return ordered


def _event_type(headers: Any) -> bytes | None:
    """The ``hub-event-type`` header of a Faust message (a mapping or a list of pairs)."""
    pairs = headers.items() if isinstance(headers, Mapping) else headers or ()
    for name, value in pairs:
        if name == "hub-event-type":
            return value if isinstance(value, bytes) else None
    return None


def _die(where: str) -> None:
    """Stop the whole process on an exception the runner does not handle.

    Faust would log it and leave a dead agent behind a live process, its partitions silently
    stalled. Nothing of the batch was committed past what its transactions did (neither a
    store's position nor the group's offset), so a restarted worker (the supervisor's job)
    takes it up again.
    """
    log.critical("worker stopping: unexpected failure applying %s", where, exc_info=True)
    logging.shutdown()
    sys.stderr.flush()
    os._exit(70)  # EX_SOFTWARE


def run_worker(
    settings: Settings, *, loglevel: str = "info", executor: ThreadPoolExecutor | None = None
) -> None:
    """Run until SIGINT/SIGTERM (blocking), on uvloop's event loop.

    uvloop (libuv under asyncio's API, which Faust and mode support) costs the loop less per
    callback, and the worker's event loop thread does Faust's work twice per event: the
    worker's CPU per event measured 9 % lower on it (ADR 0044). Set here, in the worker's
    entry, before Faust makes its loop; nothing else in the hub depends on which loop runs.
    ``executor``: the loop's default executor, where the worker decodes and applies its batches
    (``asyncio.to_thread``); a profiler passes one whose threads it sees."""
    from faust.worker import Worker

    asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
    if executor is not None:
        loop = asyncio.new_event_loop()  # uvloop's, the one Faust's worker then takes up
        loop.set_default_executor(executor)
        asyncio.set_event_loop(loop)
    # A worker started before its topics exist would ignore them for good ("Ignoring missing
    # topic"), so it makes them, as ``hub run`` does.
    (settings.state_dir / "faust").mkdir(parents=True, exist_ok=True)  # Faust makes one level
    created = ensure_topics(settings)
    if created:
        log.info("created topics: %s", ", ".join(created))
    app, publisher = create_app(settings)
    logging.getLogger("hub").setLevel(loglevel.upper())
    try:
        Worker(app, loglevel=loglevel).execute_from_commandline()
    finally:
        publisher.close()
