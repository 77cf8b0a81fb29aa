"""``hub replay`` against the real broker, on SQLite and PostgreSQL (ADR 0015).

A scripted story goes onto the family topic; a worker-equivalent (the ``ProjectionRunner`` the
worker uses, fed by a plain consumer) builds the projections incrementally; then ``replay``
rebuilds them from offset 0 into fresh tables and swaps them in. The rebuilt tables must equal
the incrementally built ones row for row.
"""

from __future__ import annotations

import asyncio
import itertools
import sys
import threading
import uuid
from collections.abc import Callable, Iterator, Sequence
from datetime import timedelta
from typing import Any

import pytest
from confluent_kafka import Consumer, TopicPartition
from sqlalchemy import Engine, Table, inspect, select, text
from typer.testing import CliRunner

from hub.alerts.fold import alert_id_for
from hub.alerts.store import MissedAppointmentStore
from hub.cli.main import app
from hub.erasure.keystore import open_key_store
from hub.erasure.log import CaseEventLog
from hub.erasure.sealing import LogEntry
from hub.events import CaseEvent
from hub.ingest.sink import CaseEventSink
from hub.kafka.publisher import KafkaPublisher
from hub.nhs_number import valid_nhs_numbers
from hub.outcomes.store import OutcomesStore
from hub.processes.replay import replay
from hub.projections.registry import rebuildable
from hub.projections.replay import Progress, describe
from hub.projections.runner import ProjectionRunner
from hub.settings import Settings
from hub.storage.positions import positions_of
from hub.team.store import TeamStore
from hub.vocabulary import PractitionerRole
from tests.builders import (
    NHS_NUMBER,
    T0,
    TRUST,
    acknowledged,
    assigned,
    attended,
    booked,
    closed,
    consented,
    missed,
    ref,
    registered,
)
from tests.team_builders import family_story

pytestmark = pytest.mark.kafka

ALERTS = "missed_appointment_alerts"
TEAM = "team_around_the_family"
FAMILY = b"family-1"
OTHER_FAMILY = b"family-2"
BABY = "4010232137"
OTHER = "9999999468"


def story() -> list[tuple[bytes, CaseEvent]]:
    """Bookings, misses, attendance, acknowledgement, closure, consent and team assignments."""
    apt1 = alert_id_for(TRUST, "APT-1")
    family = [
        registered("Amy", "Example"),
        assigned("mw-1"),
        assigned("smw-1", PractitionerRole.SAFEGUARDING_MIDWIFE),
        booked("APT-1"),
        booked("APT-3", T0 + timedelta(days=3)),
        missed("APT-1"),
        missed("HV-1", nhs_number=BABY, at=T0 + timedelta(days=2)),
        acknowledged(apt1),
        attended("APT-3"),
        consented(),
        closed(apt1, at=T0 + timedelta(hours=3)),
        *family_story(T0),
    ]
    other = [assigned("hv-9", nhs_number=OTHER), missed("OTHER", nhs_number=OTHER)]
    return [(FAMILY, e) for e in family] + [(OTHER_FAMILY, e) for e in other]


class Hub:
    """The family topic, the store, and a worker-equivalent that applies what is published."""

    def __init__(self, settings: Settings, engine: Engine) -> None:
        self.settings = settings
        self.engine = engine
        self.topic = settings.family_events_topic
        self.keys = open_key_store(settings)
        self.keys.create_schema()
        self.alerts = MissedAppointmentStore(engine)
        self.team = TeamStore(engine)
        self.outcomes = OutcomesStore(engine)
        self.alerts.create_schema()
        self.outcomes.create_schema()
        self._log = CaseEventLog(self.keys, self.topic)
        self.publisher = KafkaPublisher(settings.bootstrap_servers())
        self._runner: ProjectionRunner[LogEntry] = ProjectionRunner(
            [self.alerts.apply, self.team.apply, self.outcomes.apply, self.keys.apply],
            CaseEventLog(self.keys, self.topic),
            CaseEventSink(self.publisher, settings, self.keys),
            settings.dead_letter_topic,
        )
        self._consumer = Consumer(
            {
                "bootstrap.servers": settings.bootstrap_servers(),
                "group.id": f"test-live-{uuid.uuid4().hex}",
                "enable.auto.commit": False,
            }
        )
        self._partitions = [TopicPartition(self.topic, p) for p in range(settings.topic_partitions)]
        self._consumer.assign(
            [TopicPartition(self.topic, p, 0) for p in range(settings.topic_partitions)]
        )

    def publish(self, key: bytes, event: CaseEvent) -> None:
        _, value = self._log.encode(event)
        self.publisher.publish_sync(self.topic, key, value)

    def publish_garbage(self, key: bytes) -> None:
        self.publisher.publish_sync(self.topic, key, b"not a log entry")

    def apply_published(self) -> None:
        """What the worker does: every entry published so far, through the runner."""
        ends = {
            p.partition: self._consumer.get_watermark_offsets(p, timeout=10)[1]
            for p in self._partitions
        }

        async def drain() -> None:
            while any(
                max(position.offset, 0) < ends[position.partition]  # -1001: none read yet
                for position in self._consumer.position(self._partitions)
            ):
                message = self._consumer.poll(0.5)
                if message is None:
                    continue
                assert message.error() is None, message.error()
                await self._runner.handle(
                    message.topic() or "",
                    message.partition() or 0,
                    message.offset() or 0,
                    message.value() or b"",
                    message.key(),
                )

        asyncio.run(drain())

    def close(self) -> None:
        self._consumer.close()
        self.publisher.close()


@pytest.fixture
def hub(make_settings: Callable[..., Settings], sql_engine: Engine) -> Iterator[Hub]:
    url = sql_engine.url.render_as_string(hide_password=False)
    running = Hub(make_settings(database_url=url), sql_engine)
    try:
        yield running
    finally:
        running.close()


def rows(engine: Engine, tables: Sequence[Table], projection: str) -> dict[str, list[Any]]:
    """Every row of a projection's live tables and its positions, in a canonical order."""
    with engine.connect() as connection:
        found: dict[str, list[Any]] = {
            table.name: sorted((tuple(row) for row in connection.execute(select(table))), key=repr)
            for table in tables
        }
        found["positions"] = sorted(positions_of(connection, projection).items())
    return found


def snapshot(engine: Engine) -> dict[str, dict[str, list[Any]]]:
    return {name: rows(engine, rebuild.live, name) for name, rebuild in rebuildable().items()}


def leftovers(engine: Engine) -> list[str]:
    return [
        name
        for name in inspect(engine).get_table_names()
        if name.endswith(("__rebuild", "__retired"))
    ]


def test_a_replayed_projection_equals_the_one_built_incrementally(hub: Hub) -> None:
    for key, event in story():
        hub.publish(key, event)
    hub.publish_garbage(FAMILY)  # dead-lettered live; only the position moves in the rebuild
    hub.apply_published()
    built = snapshot(hub.engine)
    assert len(built[ALERTS]["alerts"]) == 4  # APT-1 (closed), HV-1, OTHER, APT-16W
    assert built[ALERTS]["alert_recipients"]
    assert built[TEAM]["taf_items"]
    assert built["outcomes"]["outcome_records"]  # the story's appointments, per person
    assert sum(offset for _, offset in built[ALERTS]["positions"]) == len(story()) + 1

    for name in rebuildable():
        done = replay(hub.settings, name)
        assert done.stage == "swapped"
        assert done.applied == len(story()) + 1
    assert snapshot(hub.engine) == built
    assert leftovers(hub.engine) == []

    for name in rebuildable():  # a second replay replaces the first rebuild the same way
        replay(hub.settings, name)
    assert snapshot(hub.engine) == built
    assert leftovers(hub.engine) == []

    # The worker carries on into the swapped-in tables, from the swapped-in positions.
    hub.publish(FAMILY, missed("APT-9", at=T0 + timedelta(days=9)))
    hub.apply_published()
    assert sorted(
        view.alert.appointment.appointment_id for view in hub.alerts.open_alerts_for(ref("mw-1"))
    ) == ["APT-16W", "APT-9", "HV-1"]


def test_readers_see_the_old_generation_until_the_swap(hub: Hub) -> None:
    for key, event in story():
        hub.publish(key, event)
    hub.apply_published()
    # Damage the live generation, as a bug in an old fold would have: the rebuild repairs it.
    with hub.engine.begin() as connection:
        connection.execute(text("UPDATE alert_people SET given_name = 'Stale'"))
    seen: list[tuple[str, str | None]] = []
    late = missed("APT-LATE", at=T0 + timedelta(days=5))

    def during(step: Progress) -> None:
        [view, *_] = hub.alerts.alerts_about(NHS_NUMBER)
        seen.append((step.stage, view.person.given_name))
        if step.stage == "caught up" and len(seen) == 1:
            # The worker applies an entry the rebuild has not read: the swap must wait for it.
            hub.publish(FAMILY, late)
            hub.apply_published()

    replay(hub.settings, ALERTS, progress=during)

    stages = [stage for stage, _ in seen]
    assert stages.count("caught up") == 2, stages  # the first swap was refused: live was ahead
    assert {name for stage, name in seen if stage != "swapped"} == {"Stale"}
    assert seen[-1] == ("swapped", "Amy")
    late_alerts = [
        view
        for view in hub.alerts.alerts_about(NHS_NUMBER)
        if view.alert.appointment.appointment_id == "APT-LATE"
    ]
    assert len(late_alerts) == 1
    with hub.engine.connect() as connection:
        live = positions_of(connection, ALERTS)
        assert positions_of(connection, ALERTS + "__rebuild") == {}
    assert sum(live.values()) == len(story()) + 1
    for (topic, partition), next_offset in live.items():  # the rebuild's positions, moved
        assert hub.alerts.apply(topic, partition, next_offset - 1, None) is False

    repaired = snapshot(hub.engine)[ALERTS]
    replay(hub.settings, ALERTS)
    assert snapshot(hub.engine)[ALERTS] == repaired


def test_the_command_prints_progress_and_swaps(hub: Hub) -> None:
    for key, event in story():
        hub.publish(key, event)
    hub.apply_published()
    built = snapshot(hub.engine)
    settings = hub.settings
    env = {
        "KAFKA_BOOTSTRAP_SERVERS": settings.bootstrap_servers(),
        "HUB_DATABASE_URL": settings.resolved_database_url(),
        "HUB_FAMILY_EVENTS_TOPIC": settings.family_events_topic,
        "HUB_STATE_DIR": str(settings.state_dir),
    }
    result = CliRunner().invoke(app, ["replay", TEAM, "--yes"], env=env)
    assert result.exit_code == 0, result.output
    assert f"{len(story())} entries applied" in result.output
    assert "swapped" in result.output
    assert snapshot(hub.engine) == built

    refused = CliRunner().invoke(app, ["replay", "alerts", "--yes"], env=env)
    assert refused.exit_code == 2
    assert "unknown projection 'alerts'" in refused.output
    assert f"{ALERTS}, outcomes, {TEAM}" in refused.output


def test_a_replay_while_the_worker_keeps_applying_loses_and_doubles_nothing(hub: Hub) -> None:
    """The worker-equivalent applies new entries in a thread throughout the replay and its swap;
    whatever the interleaving, every entry ends up applied once, in the swapped-in tables."""
    for key, event in story():
        hub.publish(key, event)
    hub.apply_published()
    live_misses = [f"APT-LIVE-{i}" for i in range(12)]
    failures: list[BaseException] = []

    def worker() -> None:
        try:
            for i, appointment in enumerate(live_misses):
                hub.publish(FAMILY, missed(appointment, at=T0 + timedelta(days=10, hours=i)))
                hub.apply_published()
        except BaseException as error:  # reported by the main thread
            failures.append(error)

    thread = threading.Thread(target=worker)
    thread.start()
    try:
        replay(hub.settings, ALERTS)
    finally:
        thread.join()
    assert failures == []
    hub.apply_published()

    appointments = [
        view.alert.appointment.appointment_id for view in hub.alerts.alerts_about(NHS_NUMBER)
    ]
    assert sorted(a for a in appointments if a.startswith("APT-LIVE-")) == sorted(live_misses)
    with hub.engine.connect() as connection:
        assert sum(positions_of(connection, ALERTS).values()) == len(story()) + len(live_misses)
    settled = snapshot(hub.engine)[ALERTS]
    replay(hub.settings, ALERTS)
    assert snapshot(hub.engine)[ALERTS] == settled


@pytest.fixture
def wide_hub(make_settings: Callable[..., Settings], sql_engine: Engine) -> Iterator[Hub]:
    url = sql_engine.url.render_as_string(hide_password=False)
    running = Hub(make_settings(database_url=url, topic_partitions=4), sql_engine)
    try:
        yield running
    finally:
        running.close()


def test_a_replay_in_batches_across_partitions_with_a_poison_entry_equals_the_live_one(
    wide_hub: Hub, capsys: pytest.CaptureFixture[str]
) -> None:
    """Many families over four partitions, an undecodable entry among them, read in batches
    smaller than a partition's share (so batches straddle partitions and end mid-partition):
    the rebuilt tables equal the incrementally built ones, and progress is printed."""
    hub = wide_hub
    people = list(itertools.islice(valid_nhs_numbers(600_000_000), 12))
    for i, person in enumerate(people):
        family = f"family-w{i}".encode()
        alert = alert_id_for(TRUST, f"APT-W{i}")
        for event in (
            registered(f"Given{i}", "Example", nhs_number=person),
            assigned(f"mw-{i % 3}", nhs_number=person),
            booked(f"APT-W{i}", nhs_number=person),
            missed(f"APT-W{i}", nhs_number=person),
            acknowledged(alert, by=f"mw-{i % 3}", nhs_number=person),
        ):
            hub.publish(family, event)
        if i == 5:
            hub.publish_garbage(family)  # dead-lettered live; only the position moves here
    hub.apply_published()
    built = snapshot(hub.engine)
    assert len(built[ALERTS]["alerts"]) == len(people)
    assert len(built[ALERTS]["positions"]) > 1  # the families are spread over partitions
    entries = len(people) * 5 + 1

    def show(step: Progress) -> None:
        print(describe(step), file=sys.stderr)

    for name in rebuildable():
        done = replay(hub.settings, name, progress=show, progress_every_s=0, batch=7)
        assert done.applied == entries
    assert snapshot(hub.engine) == built
    assert leftovers(hub.engine) == []
    lines = capsys.readouterr().err.splitlines()
    rebuilding = [line for line in lines if line.startswith("rebuilding")]
    assert len(rebuilding) >= 2 * (entries // 7)  # a line per batch, for each projection
    assert f"{entries} entries applied (of {entries})" in lines[-1]
    assert [line.split()[0] for line in lines if not line.startswith("rebuilding")] == [
        "caught",
        "swapped",
    ] * len(rebuildable())


@pytest.mark.parametrize("sql_engine", ["postgresql"], indirect=True)
@pytest.mark.postgres
def test_a_rebuilt_generation_comes_in_with_its_planner_statistics(hub: Hub) -> None:
    """PostgreSQL: every swapped-in table has been analyzed (ADR 0054). The story's tables are
    far under autovacuum's threshold, so only the replay can have gathered them."""
    for key, event in story():
        hub.publish(key, event)
    hub.apply_published()
    replay(hub.settings, ALERTS)
    names = sorted(table.name for table in rebuildable()[ALERTS].live)
    with hub.engine.connect() as connection:
        analyzed = connection.execute(
            text(
                "SELECT relname FROM pg_stat_user_tables"
                " WHERE relname = ANY(:names) AND last_analyze IS NOT NULL"
            ),
            {"names": names},
        )
        assert sorted(analyzed.scalars()) == names
