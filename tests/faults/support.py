"""What the fault tests share: a scripted scenario, worker processes, caught-up checks, and a
clean rebuild to compare against (modelled on Kafka's system tests: every acknowledged event is
consumed, nothing is duplicated, order is kept per key).
"""

from __future__ import annotations

import json
import random
import sqlite3
import subprocess
import time
import uuid
from collections.abc import Iterator
from contextlib import closing, contextmanager
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from confluent_kafka import Consumer, TopicPartition
from pydantic import SecretStr
from sqlalchemy import Engine, inspect, select

from hub.alerts import fold as alert_fold
from hub.events import CaseEvent, EventType
from hub.identity.store import IDENTITY_PROJECTION
from hub.kafka.admin import ensure_topics
from hub.nhs_number import valid_nhs_numbers
from hub.payloads import (
    AppointmentAttended,
    AppointmentBooked,
    AppointmentMissed,
    PersonRegistered,
    PractitionerAssigned,
)
from hub.projections.registry import derived_tables
from hub.settings import Settings
from hub.sharing.store import SHARING_PROJECTION
from hub.storage.positions import positions_of
from hub.team import fold as team_fold
from hub.vocabulary import AssignmentScope, PractitionerRole
from tests.builders import T0, TRUST, appointment, consented, event, withdrawn
from tests.support.processes import hub_process

FAMILY_PROJECTIONS = (alert_fold.PROJECTION, team_fold.PROJECTION, SHARING_PROJECTION)


def drop_derived_tables(engine: Engine) -> None:
    """Delete every table the worker folds from the log (the positions with them)."""
    for table in reversed(derived_tables()):
        table.drop(engine, checkfirst=True)


# Timers and pushes write to the log and depend on the wall clock: off, so that the log is the
# scenario alone and a clean rebuild must reproduce the projections exactly.
QUIET = {"alert_sweep_seconds": 1_000_000.0, "subscription_interval_seconds": 1_000_000.0}


def scenario(families: int, seed: int) -> list[CaseEvent]:
    """Each family's story in order (registration, practitioners, bookings, misses,
    attendances, consent given and withdrawn); the families interleaved at random (seeded)."""
    rng = random.Random(seed)  # noqa: S311 (a reproducible scenario, not a secret)
    stories = [
        _story(nhs, n, rng)
        for n, nhs in zip(range(families), valid_nhs_numbers(600_000_000), strict=False)
    ]
    merged: list[CaseEvent] = []
    while stories:
        story = rng.choice(stories)
        merged.append(story.pop(0))
        if not story:
            stories.remove(story)
    return merged


def _story(nhs: str, n: int, rng: random.Random) -> list[CaseEvent]:
    at = T0 + timedelta(days=n % 7)

    def fact(kind: EventType, payload: Any, record: str, when: datetime = at) -> CaseEvent:
        return event(kind, payload, record_id=f"f{n}-{record}", nhs_number=nhs, at=when)

    story = [
        fact(
            EventType.PERSON_REGISTERED,
            PersonRegistered(given_name=f"Parent{n}", family_name=f"Family{n}"),
            "reg",
        ),
    ]
    for m in range(rng.randint(1, 2)):
        midwife = f"mw-{rng.randrange(20)}"
        story.append(
            fact(
                EventType.PRACTITIONER_ASSIGNED,
                PractitionerAssigned(
                    practitioner_id=midwife,
                    name=f"Practitioner {midwife}",
                    role=PractitionerRole.COMMUNITY_MIDWIFE,
                    organisation_code=TRUST.organisation_code,
                    scope=AssignmentScope.PERSON,
                ),
                f"assign-{m}",
            )
        )
    for a in range(rng.randint(1, 3)):
        apt = appointment(f"APT-{n}-{a}", at + timedelta(days=7 * (a + 1)))
        story.append(
            fact(EventType.APPOINTMENT_BOOKED, AppointmentBooked(appointment=apt), f"book-{a}")
        )
        outcome = rng.random()
        later = apt.start + timedelta(hours=1)
        if outcome < 0.5:
            story.append(
                fact(
                    EventType.APPOINTMENT_MISSED,
                    AppointmentMissed(appointment=apt),
                    f"miss-{a}",
                    later,
                )
            )
            if rng.random() < 0.2:  # the same no-show reported twice: still one alert
                story.append(
                    fact(
                        EventType.APPOINTMENT_MISSED,
                        AppointmentMissed(appointment=apt),
                        f"miss-{a}-again",
                        later,
                    )
                )
        else:
            story.append(
                fact(
                    EventType.APPOINTMENT_ATTENDED,
                    AppointmentAttended(appointment=apt),
                    f"attend-{a}",
                    later,
                )
            )
    if rng.random() < 0.5:
        story.append(consented(f"consent-{n}", nhs_number=nhs, at=at))
        if rng.random() < 0.4:
            story.append(
                withdrawn(
                    consent_id=f"consent-{n}", at=at + timedelta(days=30), record_id=f"withdraw-{n}"
                )
            )
    return story


def end_offsets(servers: str, topic: str, partitions: int) -> dict[int, int]:
    consumer = Consumer({"bootstrap.servers": servers, "group.id": f"faults-{uuid.uuid4().hex}"})
    try:
        return {
            p: consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=10)[1]
            for p in range(partitions)
        }
    finally:
        consumer.close()


def caught_up(settings: Settings, engine: Engine) -> bool:
    """Every projection's stored position is at the end of its topic (the person index on the
    case-events, the family projections on the family topic)."""
    servers, n = settings.bootstrap_servers(), settings.topic_partitions
    wanted = [(IDENTITY_PROJECTION, settings.case_events_topic)] + [
        (name, settings.family_events_topic) for name in FAMILY_PROJECTIONS
    ]
    if not inspect(engine).has_table("projection_positions"):
        return False  # the worker has not made its tables yet
    ends = {topic: end_offsets(servers, topic, n) for topic in {t for _, t in wanted}}
    with engine.connect() as connection:
        for projection, topic in wanted:
            held = positions_of(connection, projection)
            for partition, end in ends[topic].items():
                if end and held.get((topic, partition)) != end:
                    return False
    return True


def wait_caught_up(settings: Settings, engine: Engine, log: Path, timeout_s: float = 150) -> float:
    """Until caught up twice a second apart (a forward may still be in flight the first time)."""
    start = time.monotonic()
    while True:
        if caught_up(settings, engine):
            time.sleep(1.0)
            if caught_up(settings, engine):
                return time.monotonic() - start
        if time.monotonic() - start > timeout_s:
            raise AssertionError(
                f"not caught up in {timeout_s} s\n{log.read_text(errors='replace')[-4000:]}"
            )
        time.sleep(0.5)


@contextmanager
def worker(settings: Settings, log: Path) -> Iterator[subprocess.Popen[bytes]]:
    """``hub worker`` as a child process; its output appended to ``log`` (restarts included)."""
    with hub_process("worker", settings, log.parent, append_to=log) as process:
        yield process


def reference(settings: Settings, database_url: str) -> Settings:
    """A clean rebuild's settings: a new group and database reading the same case-events, with
    topics of its own for what it derives (so that it adds nothing to the worker's)."""
    suffix = uuid.uuid4().hex[:8]
    clean = settings.model_copy(
        update={
            "database_url": SecretStr(database_url),
            "worker_group": f"{settings.worker_group}-clean-{suffix}",
            "family_events_topic": f"{settings.family_events_topic}-clean-{suffix}",
            "disclosures_topic": f"{settings.disclosures_topic}-clean-{suffix}",
            "dead_letter_topic": f"{settings.dead_letter_topic}-clean-{suffix}",
        }
    )
    ensure_topics(clean)
    return clean


# Columns that differ between two correct runs by design: the change feed's autoincrement
# ``seq``, ``recorded_at`` (the wall-clock time the hub knew) and ``change_id`` (a hash of the
# causing entry's family-topic position, and the clean rebuild has a family topic of its own);
# the rest of each change row, duplicates included, must match. The positions table is left out
# for the same reason (offsets in different family topics).
IGNORED = {"alert_changes": {"seq", "recorded_at", "change_id"}}


def _as_sets(body: str) -> str:
    """A sharing fact's JSON with its lists sorted: the facts hold frozensets, which serialise
    in the writing process's hash order, so equal facts differ byte for byte across processes."""
    loaded = json.loads(body)
    return json.dumps(
        {k: sorted(v) if isinstance(v, list) else v for k, v in loaded.items()}, sort_keys=True
    )


def copy_sqlite(source: Path, target: Path) -> None:
    """A consistent copy of a SQLite database (its WAL included, which a file copy misses)."""
    with closing(sqlite3.connect(source)) as src, closing(sqlite3.connect(target)) as dst:
        src.backup(dst)


def contents(engine: Engine) -> dict[str, list[tuple[Any, ...]]]:
    """Every projection table's rows, sorted, without the ignored columns."""
    found = {}
    with engine.connect() as connection:
        for table in derived_tables():
            if table.name == "projection_positions":
                continue
            columns = [c for c in table.columns if c.name not in IGNORED.get(table.name, set())]
            rows = [tuple(row) for row in connection.execute(select(*columns))]
            if table.name == "sharing_facts":
                body = [c.name for c in columns].index("body")
                rows = [(*r[:body], _as_sets(r[body]), *r[body + 1 :]) for r in rows]
            found[table.name] = sorted(rows, key=repr)
    return found
