"""Operator metrics in Prometheus exposition format, computed at scrape time (ADR 0018).

Every figure is read when Prometheus scrapes — from the shared projection store and the
broker's watermarks — rather than counted in a process's memory, so it is right however many
workers run, survives their restarts, and two API replicas report the same numbers.

* lag: for every projection of the registry (:data:`hub.projections.registry.PROJECTIONS`),
  a topic partition's end offset minus the projection's stored ``next_offset``
  (``projection_positions``); a partition it has no position in yet counts from the log start;
* alert changes: rows of the change feed (``alert_changes``) by change — raised, routed,
  escalated, acknowledged, closed, erased;
* quarantine and dead-letter sizes: the records those topics hold (end minus start offset);
* the error queue: refused inputs by channel, source, reason and status (ADR 0030);
* webhook deliveries: failed attempts and unresolved dead letters (``hub/subscriptions``).

The names, labels and example alert rules are in ``docs/operations.md``.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence
from typing import Any

from confluent_kafka import KafkaException, TopicPartition
from confluent_kafka.admin import AdminClient, OffsetSpec  # type: ignore[attr-defined]
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import CollectorRegistry
from sqlalchemy import Engine, func, select
from sqlalchemy.exc import SQLAlchemyError

from hub.alerts.changes import feed
from hub.errorqueue.store import QuarantineStore
from hub.kafka.admin import admin
from hub.projections.registry import PROJECTIONS, ProjectionSpec
from hub.projections.resume import stored_projections
from hub.projections.stalls import Lag, StallWatch
from hub.settings import Settings
from hub.storage.positions import positions_of
from hub.subscriptions.models import DeliveryOutcome
from hub.subscriptions.tables import dead_letters_table, deliveries_table

Watermarks = dict[tuple[str, int], tuple[int, int]]  # (topic, partition) -> (start, end)


def watched(
    settings: Settings, projections: Sequence[ProjectionSpec[Any]] = PROJECTIONS
) -> list[tuple[str, str]]:
    """Each projection the worker runs (the registry's list), with the topic it reads."""
    return [
        (projection, topic)
        for topic, names in stored_projections(settings, projections).items()
        for projection in names
    ]


def watermarks(client: AdminClient, topics: Sequence[str], timeout_s: float = 5.0) -> Watermarks:
    """Start and end offset of every partition of ``topics`` (those that exist)."""
    metadata = client.list_topics(timeout=timeout_s)
    partitions = [
        TopicPartition(topic, partition)
        for topic in dict.fromkeys(topics)
        if topic in metadata.topics
        for partition in metadata.topics[topic].partitions
    ]
    if not partitions:
        return {}
    found: dict[tuple[str, int], list[int]] = {}
    # The library's OffsetSpec constructors carry no annotations.
    specs = (OffsetSpec.earliest(), OffsetSpec.latest())  # type: ignore[no-untyped-call]
    for spec in specs:
        futures = client.list_offsets({tp: spec for tp in partitions}, request_timeout=timeout_s)
        for tp, future in futures.items():
            found.setdefault((tp.topic, tp.partition), []).append(int(future.result().offset))
    return {key: (offsets[0], offsets[1]) for key, offsets in found.items()}


def lags(
    settings: Settings,
    engine: Engine,
    marks: Watermarks,
    projections: Sequence[ProjectionSpec[Any]] = PROJECTIONS,
) -> list[Lag]:
    """Every watched projection's lag in every partition of its topic."""
    pairs = watched(settings, projections)
    with engine.connect() as connection:
        stored = {projection: positions_of(connection, projection) for projection, _ in pairs}
    return [
        Lag(projection, topic, partition, end, stored[projection].get((topic, partition), start))
        for projection, topic in pairs
        for (marked_topic, partition), (start, end) in sorted(marks.items())
        if marked_topic == topic
    ]


def read_lags(
    settings: Settings,
    engine: Engine,
    timeout_s: float = 5.0,
    projections: Sequence[ProjectionSpec[Any]] = PROJECTIONS,
) -> list[Lag]:
    """Every watched projection's lag, with the broker's watermarks read now (``/health``)."""
    topics = [topic for _, topic in watched(settings, projections)]
    marks = watermarks(admin(settings.bootstrap_servers()), topics, timeout_s)
    return lags(settings, engine, marks, projections)


def alert_change_totals(engine: Engine) -> dict[str, int]:
    """Rows of the alert change feed by change (erasure deletes an alert's rows)."""
    with engine.connect() as connection:
        rows = connection.execute(select(feed.c.change, func.count()).group_by(feed.c.change))
        return {str(change): int(count) for change, count in rows}


def webhook_totals(engine: Engine) -> tuple[int, int]:
    """Failed webhook attempts (every attempt but the one that delivered) and unresolved dead
    letters, over all subscriptions; (0, 0) before any subscription table exists."""
    with engine.connect() as connection:
        if not engine.dialect.has_table(connection, deliveries_table.name):
            return 0, 0
        attempts, delivered = connection.execute(
            select(
                func.coalesce(func.sum(deliveries_table.c.attempts), 0),
                func.count().filter(deliveries_table.c.outcome == DeliveryOutcome.DELIVERED.value),
            )
        ).one()
        dead = connection.execute(
            select(func.count()).where(dead_letters_table.c.resolved_at.is_(None))
        ).scalar_one()
    return int(attempts) - int(delivered), int(dead)


class HubCollector:
    """A Prometheus collector that reads every figure afresh at each scrape."""

    def __init__(self, settings: Settings, engine: Engine, watch: StallWatch) -> None:
        self._settings = settings
        self._engine = engine
        self._watch = watch

    def describe(self) -> list[Metric]:
        return []  # registering must not touch Kafka or the database

    def collect(self) -> Iterator[Metric]:
        settings = self._settings
        topics = [topic for _, topic in watched(settings)]
        topics += [settings.quarantine_topic, settings.dead_letter_topic]
        up = GaugeMetricFamily("hub_kafka_up", "1 when the broker answered this scrape.")
        try:
            marks = watermarks(admin(settings.bootstrap_servers()), topics)
        except (KafkaException, RuntimeError):
            up.add_metric([], 0)
            yield up
            marks = None
        if marks is not None:
            up.add_metric([], 1)
            yield up
            yield from self._kafka_figures(marks)
        yield from self._store_figures()

    def _kafka_figures(self, marks: Watermarks) -> Iterator[Metric]:
        settings = self._settings
        labels = ["projection", "topic", "partition"]
        lag = GaugeMetricFamily(
            "hub_projection_lag", "Entries a projection has still to apply.", labels=labels
        )
        stalled = GaugeMetricFamily(
            "hub_projection_stalled",
            "1 when the partition is behind and its position has not moved for "
            "HUB_STALL_SECONDS (as seen by this API process).",
            labels=labels,
        )
        try:
            found = lags(settings, self._engine, marks)
        except SQLAlchemyError:
            found = []
        stuck = {stall.lag.key for stall in self._watch.check(found, time.monotonic())}
        for each in found:
            values = [each.projection, each.topic, str(each.partition)]
            lag.add_metric(values, each.behind)
            stalled.add_metric(values, 1 if each.key in stuck else 0)
        yield lag
        yield stalled
        for name, topic, what in (
            ("hub_quarantined_records", settings.quarantine_topic, "quarantine"),
            ("hub_dead_lettered_records", settings.dead_letter_topic, "dead-letter"),
        ):
            held = sum(end - start for (t, _), (start, end) in marks.items() if t == topic)
            gauge = GaugeMetricFamily(name, f"Records the {what} topic holds.", labels=["topic"])
            gauge.add_metric([topic], held)
            yield gauge

    def _store_figures(self) -> Iterator[Metric]:
        try:
            changes = alert_change_totals(self._engine)
            failed, dead = webhook_totals(self._engine)
            queue = QuarantineStore(self._engine, lambda _: None).counts()
        except SQLAlchemyError:
            return
        items = GaugeMetricFamily(
            "hub_error_queue_items",
            "Refused inputs in the error queue (ADR 0030) by channel, source system, reason "
            "(the first error's location) and status.",
            labels=["channel", "source", "reason", "status"],
        )
        for labels, count in sorted(queue.items()):
            items.add_metric(list(labels), count)
        yield items
        alerts = CounterMetricFamily(
            "hub_alert_changes",
            "Alert changes recorded in the change feed (raised, routed, escalated, "
            "acknowledged, closed, erased).",
            labels=["change"],
        )
        for change in ("raised", "routed", "escalated", "acknowledged", "closed", "erased"):
            changes.setdefault(change, 0)
        for change, count in sorted(changes.items()):
            alerts.add_metric([change], count)
        yield alerts
        yield CounterMetricFamily(
            "hub_webhook_failed_attempts", "Webhook attempts that did not deliver.", value=failed
        )
        yield GaugeMetricFamily(
            "hub_webhook_dead_letters", "Webhook dead letters not yet resolved.", value=dead
        )


def metrics_registry(settings: Settings, engine: Engine, watch: StallWatch) -> CollectorRegistry:
    """A registry of the hub's collector only (no process-global state between apps)."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(HubCollector(settings, engine, watch))
    return registry
