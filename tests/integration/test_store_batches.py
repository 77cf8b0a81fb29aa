"""One contract for a store's batch (issue 19, ADR 0026), run against every store and adapter.

Each store is a subclass of :class:`BatchContract` that gives its workload (a partition's
entries, many people and families interleaved, an erasure among them); each test runs on SQLite
and PostgreSQL (the ``sql_engine`` fixture). Equality is of the tables' contents: every table a
projection derives, its change feed and the positions, read back row by row, so a batch is held
to exactly what one entry at a time writes (the change feed's ``seq`` and ``recorded_at`` aside:
a counter and a clock).
"""

from __future__ import annotations

import itertools
import re
import uuid
from collections.abc import Sequence
from datetime import timedelta, timezone
from typing import Any, Protocol

import pytest
from sqlalchemy import Engine, Table, delete, select

from hub.alerts.changes import feed
from hub.alerts.fold import alert_id_for
from hub.alerts.store import MissedAppointmentStore
from hub.disclosures import Channel, DisclosedItem, Disclosure
from hub.erasure.sealing import Erasure
from hub.events import CaseEvent
from hub.identity.store import IdentityStore
from hub.nhs_number import valid_nhs_numbers
from hub.payloads import NHS_NUMBER_SYSTEM, PersonIdentifier
from hub.projections.batch import PartsApply
from hub.projections.registry import derived_tables
from hub.sharing.store import DisclosureLog, SharingStore
from hub.storage.positions import BatchEntry, PoisonEntriesError, positions
from hub.team.store import TeamStore
from hub.vocabulary import DataCategory, LawfulBasis, PractitionerRole, Purpose
from tests import team_builders as taf
from tests.builders import (
    T0,
    TRUST,
    acknowledged,
    assigned,
    attended,
    booked,
    cancelled,
    closed,
    consented,
    missed,
    override,
    registered,
    rescheduled,
    unassigned,
    withdrawn,
)

TOPIC = "family-events"
BATCH = 7  # small, so that families straddle batches
FAMILIES = 6
NHS = list(itertools.islice(valid_nhs_numbers(100_000_000), FAMILIES))
IGNORED = {feed.name: {"seq", "recorded_at"}}  # a counter and a clock


class Store(Protocol):
    def apply(
        self, topic: str, partition: int, offset: int, entry: Any, key: bytes | None = None, /
    ) -> bool: ...

    def apply_batch(
        self, topic: str, partition: int, entries: Sequence[BatchEntry[Any]], /
    ) -> int: ...


def tables() -> list[Table]:
    found = {t.name: t for t in [*derived_tables(), feed, positions]}
    return [found[name] for name in sorted(found)]


def contents(engine: Engine) -> dict[str, list[tuple[str, ...]]]:
    """Every row of every projection table, as sorted text: what two runs must agree on."""
    read: dict[str, list[tuple[str, ...]]] = {}
    with engine.connect() as connection:
        for table in tables():
            columns = [c for c in table.columns if c.name not in IGNORED.get(table.name, set())]
            rows = connection.execute(select(*columns)).all()
            read[table.name] = sorted(tuple(repr(value) for value in row) for row in rows)
    return read


def clear(engine: Engine) -> None:
    with engine.begin() as connection:
        for table in tables():
            connection.execute(delete(table))


def numbered(entries: Sequence[tuple[Any, bytes | None]]) -> list[BatchEntry[Any]]:
    return [BatchEntry(offset, entry, key) for offset, (entry, key) in enumerate(entries)]


def batches(entries: Sequence[BatchEntry[Any]], size: int = BATCH) -> list[list[BatchEntry[Any]]]:
    return [list(entries[i : i + size]) for i in range(0, len(entries), size)]


def about(event: CaseEvent, nhs_number: str) -> CaseEvent:
    """The event about another person (the builders' events are about one)."""
    subject = (PersonIdentifier(system=NHS_NUMBER_SYSTEM, value=nhs_number),)
    return event.model_copy(update={"subject": subject})


def erasure(*subjects: str) -> Erasure:
    return Erasure(
        key_id="k-1",
        erasure_id=uuid.UUID(int=7),
        erased_at=T0,
        requested_by="dpo-1",
        reason="test",
        subjects=subjects,
    )


def round_robin(per_family: Sequence[Sequence[tuple[Any, bytes | None]]]) -> list[Any]:
    """Families' entries interleaved, as one partition of the family topic holds them."""
    mixed = itertools.zip_longest(*per_family)
    return [entry for row in mixed for entry in row if entry is not None]


class BatchContract:
    """What every store's ``apply_batch`` must do; a subclass names the store and workload."""

    def store(self, engine: Engine) -> Store:
        raise NotImplementedError

    def entries(self) -> list[BatchEntry[Any]]:
        raise NotImplementedError

    def one_at_a_time(self, store: Store, entries: Sequence[BatchEntry[Any]]) -> None:
        for item in entries:
            store.apply(TOPIC, 0, item.offset, item.entry, item.key)

    def test_a_batch_writes_what_one_entry_at_a_time_writes(self, sql_engine: Engine) -> None:
        store, entries = self.store(sql_engine), self.entries()
        self.one_at_a_time(store, entries)
        expected = contents(sql_engine)
        assert any(rows for name, rows in expected.items() if name != positions.name)
        clear(sql_engine)
        applied = [store.apply_batch(TOPIC, 0, batch) for batch in batches(entries)]
        assert sum(applied) == len(entries)
        assert contents(sql_engine) == expected

    def test_a_batch_applied_again_changes_nothing(self, sql_engine: Engine) -> None:
        store, entries = self.store(sql_engine), self.entries()
        for batch in batches(entries):
            store.apply_batch(TOPIC, 0, batch)
        before = contents(sql_engine)
        assert [store.apply_batch(TOPIC, 0, batch) for batch in batches(entries)] == [0] * len(
            batches(entries)
        )
        assert store.apply_batch(TOPIC, 0, entries) == 0
        assert contents(sql_engine) == before

    def test_a_batch_that_starts_below_the_position_skips_what_was_applied(
        self, sql_engine: Engine
    ) -> None:
        store, entries = self.store(sql_engine), self.entries()
        store.apply_batch(TOPIC, 0, entries)
        expected = contents(sql_engine)
        clear(sql_engine)
        half = len(entries) // 2
        assert store.apply_batch(TOPIC, 0, entries[:half]) == half
        assert store.apply_batch(TOPIC, 0, entries) == len(entries) - half
        assert contents(sql_engine) == expected


class RefusalContract(BatchContract):
    """A store whose fold can refuse an entry: the batch is refused naming it, nothing written."""

    def poison(self) -> tuple[Any, bytes | None]:
        raise NotImplementedError

    def test_a_refused_entry_is_named_and_nothing_of_the_batch_is_written(
        self, sql_engine: Engine
    ) -> None:
        store, entries = self.store(sql_engine), self.entries()
        poisoned = self.with_poison(entries)
        nothing = contents(sql_engine)
        bad = len(entries) // 2
        with pytest.raises(PoisonEntriesError) as refused:
            store.apply_batch(TOPIC, 0, poisoned)
        assert list(refused.value.reasons) == [bad]
        assert contents(sql_engine) == nothing

        # The runner dead-letters it and applies the batch again with it as None.
        second = [BatchEntry(e.offset, None, e.key) if e.offset == bad else e for e in poisoned]
        assert store.apply_batch(TOPIC, 0, second) == len(second)
        after = contents(sql_engine)
        clear(sql_engine)
        self.one_at_a_time(store, second)
        assert after == contents(sql_engine)

    def test_a_refused_entry_alone_raises_the_folds_reason(self, sql_engine: Engine) -> None:
        store = self.store(sql_engine)
        entry, key = self.poison()
        with pytest.raises(PoisonEntriesError) as in_a_batch:
            store.apply_batch(TOPIC, 0, [BatchEntry(0, entry, key)])
        reason = in_a_batch.value.reasons[0]
        with pytest.raises(ValueError, match=f"^{re.escape(reason)}$") as alone:
            store.apply(TOPIC, 0, 0, entry, key)
        assert not isinstance(alone.value, PoisonEntriesError)  # the runner's reason, as before
        assert store.apply(TOPIC, 0, 0, None, key)

    def test_parts_of_three_partitions_write_what_each_entry_alone_writes(
        self, sql_engine: Engine
    ) -> None:
        # One call over three partitions' parts (the worker's batch of the family topic: one
        # load of state and one read of positions for all of them, ADR 0039) ends where each
        # entry applied alone on its partition ends, positions included.
        store, entries = self.store(sql_engine), self.entries()
        parts = three_parts(entries)
        for partition, part in parts:
            for item in part:
                store.apply(TOPIC, partition, item.offset, item.entry, item.key)
        expected = contents(sql_engine)
        clear(sql_engine)
        assert apply_parts(store, parts) == len(entries)
        assert contents(sql_engine) == expected
        assert apply_parts(store, parts) == 0  # applied again: nothing
        assert contents(sql_engine) == expected

    def test_refusals_in_two_partitions_are_named_a_partition_at_a_time(
        self, sql_engine: Engine
    ) -> None:
        store, entries = self.store(sql_engine), self.entries()
        entry, key = self.poison()
        parts = three_parts(entries)
        bad = {1: parts[1][1][1].offset, 2: parts[2][1][1].offset}
        poisoned = [
            (p, [BatchEntry(e.offset, entry, key) if e.offset == bad.get(p) else e for e in part])
            for p, part in parts
        ]
        nothing = contents(sql_engine)
        for partition in (1, 2):  # as the runner does: dead-letter what is named, apply again
            with pytest.raises(PoisonEntriesError) as refused:
                apply_parts(store, poisoned)
            assert (refused.value.partition, list(refused.value.reasons)) == (
                partition,
                [bad[partition]],
            )
            assert contents(sql_engine) == nothing
            poisoned = [
                (
                    p,
                    [
                        BatchEntry(e.offset, None, e.key)
                        if p == partition and e.offset == bad[p]
                        else e
                        for e in part
                    ],
                )
                for p, part in poisoned
            ]
        assert apply_parts(store, poisoned) == len(entries)
        after = contents(sql_engine)
        clear(sql_engine)
        for partition, part in poisoned:
            for item in part:
                store.apply(TOPIC, partition, item.offset, item.entry, item.key)
        assert after == contents(sql_engine)

    def with_poison(self, entries: Sequence[BatchEntry[Any]]) -> list[BatchEntry[Any]]:
        """``entries`` with the one at the middle offset replaced by the poison."""
        bad = len(entries) // 2
        entry, key = self.poison()
        return [BatchEntry(e.offset, entry, key) if e.offset == bad else e for e in entries]


def three_parts(entries: Sequence[BatchEntry[Any]]) -> list[tuple[int, list[BatchEntry[Any]]]]:
    """``entries`` cut in three runs, each on a partition of its own (0, 1, 2)."""
    third = len(entries) // 3
    cuts = [0, third, 2 * third, len(entries)]
    return [(p, list(entries[cuts[p] : cuts[p + 1]])) for p in range(3)]


def apply_parts(store: Store, parts: Sequence[tuple[int, Sequence[BatchEntry[Any]]]]) -> int:
    assert isinstance(store, PartsApply)  # every store whose fold can refuse takes parts
    return store.apply_parts(TOPIC, parts)


def _family(i: int) -> list[tuple[Any, bytes | None]]:
    """One family's missed-appointment story; family 1 sends times with a UTC+1 offset."""
    n, key = NHS[i], f"family-{i}".encode()
    at = T0.astimezone(timezone(timedelta(hours=1))) if i == 1 else T0
    first, second = f"APT-{i}-1", f"APT-{i}-2"
    return [
        # even families' mothers prefer Welsh; a later registration saying nothing keeps it
        (
            registered(f"Given{i}", "Example", "cy" if i % 2 == 0 else None, nhs_number=n, at=at),
            key,
        ),
        (assigned(f"mw-{i}", nhs_number=n, at=at), key),
        (registered(f"Given{i}", "Example", nhs_number=n, at=at + timedelta(hours=1)), key),
        (booked(first, start=at, nhs_number=n), key),
        (missed(first, nhs_number=n, at=at + timedelta(days=1)), key),
        (booked(second, start=at + timedelta(days=2), nhs_number=n), key),
        (missed(second, nhs_number=n, at=at + timedelta(days=3)), key),
        (acknowledged(alert_id_for(TRUST, first), by=f"mw-{i}", nhs_number=n), key),
        (assigned("sg-1", PractitionerRole.SAFEGUARDING_MIDWIFE, nhs_number=n, at=at), key),
        (unassigned(f"mw-{i}", nhs_number=n, at=at + timedelta(days=4)), key),
        (attended(second, nhs_number=n, at=at + timedelta(days=5)), key),
        (missed(f"APT-{i}-3", nhs_number=n, at=at + timedelta(days=6)), key),
    ]


def _moves() -> list[tuple[Any, bytes | None]]:
    """Family 0's mother joins family 1 (ADR 0010): her booking, then her alert, are saved under
    family 1, which takes their rows (keyed by id) from family 0; family 0's later events about
    them find nothing, as they would read from the rows."""
    n, alert = NHS[0], alert_id_for(TRUST, "APT-move")
    return [
        (booked("APT-move", nhs_number=n), b"family-0"),
        (missed("APT-move", nhs_number=n), b"family-0"),
        (rescheduled("APT-move", T0 + timedelta(days=1), nhs_number=n), b"family-1"),
        (missed("APT-move", nhs_number=n, at=T0 + timedelta(days=1)), b"family-1"),
        (cancelled("APT-move", nhs_number=n), b"family-0"),
        (closed(alert, nhs_number=n), b"family-0"),
    ]


def _near_the_window() -> list[tuple[Any, bytes | None]]:
    """Two no-shows 28 days and 30 minutes apart at UTC+1: outside the escalation window, which
    only times stored as the instants they are keep them (SQLite drops an offset)."""
    n, key = NHS[4], b"family-4"
    at = T0.astimezone(timezone(timedelta(hours=1)))
    return [
        (missed("APT-near-1", nhs_number=n, at=at), key),
        (missed("APT-near-2", nhs_number=n, at=at + timedelta(days=28, minutes=30)), key),
    ]


class TestMissedAppointmentStore(RefusalContract):
    def store(self, engine: Engine) -> Store:
        return MissedAppointmentStore(engine)

    def entries(self) -> list[BatchEntry[Any]]:
        mixed = round_robin([_family(i) for i in range(FAMILIES)])
        third = len(mixed) // 3
        # Each block in one batch of BATCH, so the batch folds it on the states in memory.
        return numbered(
            [
                *_moves(),
                (registered("Filler", "Example", nhs_number=NHS[5]), b"family-5"),
                *_near_the_window(),
                *mixed[:third],
                (erasure(NHS[2]), None),  # mid-stream, with entries of family 2 after it
                *mixed[third:],
                (None, b"family-3"),  # dead-lettered: only the position moves
            ]
        )

    def poison(self) -> tuple[Any, bytes | None]:
        return missed("APT-poison", nhs_number=NHS[0]), b"\xff"  # a key that is not a family id

    def test_an_alert_is_read_with_the_persons_language(self, sql_engine: Engine) -> None:
        """The alert page reads the mother's language from the projection (Welsh Language
        Standards): the batch writes it, a family without one reads None."""
        store = MissedAppointmentStore(sql_engine)
        for batch in batches(self.entries()):
            store.apply_batch(TOPIC, 0, batch)
        welsh, unknown = NHS[4], NHS[3]  # families 4 and 3 (2 is erased mid-stream)
        assert {v.person.language for v in store.alerts_about(welsh)} == {"cy"}
        assert {v.person.language for v in store.alerts_about(unknown)} == {None}


def _team_story(n: str) -> list[tuple[Any, bytes | None]]:
    return [(about(e, n), None) for e in taf.family_story(T0)]


class TestTeamStore(RefusalContract):
    def store(self, engine: Engine) -> Store:
        return TeamStore(engine)

    def entries(self) -> list[BatchEntry[Any]]:
        mixed = round_robin([_team_story(n) for n in NHS])
        half = len(mixed) // 2
        ended = taf.practitioner_ended("mw-1", PractitionerRole.COMMUNITY_MIDWIFE)
        ends = [(about(ended, n), None) for n in NHS]
        # the unborn baby's relationship items name UNBORN: erasing it removes them from others
        return numbered(
            [*mixed[:half], (erasure(taf.UNBORN_KEY, NHS[3]), None), *mixed[half:], *ends]
        )

    def poison(self) -> tuple[Any, bytes | None]:
        event = registered()
        payload = event.payload.model_copy(update={"given_name": 5})  # past decoding, malformed
        return event.model_copy(update={"payload": payload}), None


class TestIdentityStore(RefusalContract):
    def store(self, engine: Engine) -> Store:
        return IdentityStore(engine)

    def entries(self) -> list[BatchEntry[Any]]:
        people = [
            [
                (registered(f"Given{i}", "Example", nhs_number=n), None),
                (about(taf.expecting(), n), None),
                (about(taf.baby_born(), n), None),
            ]
            for i, n in enumerate(NHS)
        ]
        mixed = round_robin(people)
        half = len(mixed) // 2
        return numbered([*mixed[:half], (erasure(NHS[0]), None), *mixed[half:]])

    def poison(self) -> tuple[Any, bytes | None]:
        return registered().model_copy(update={"subject": ()}), None  # nobody to match


class TestSharingStore(RefusalContract):
    def store(self, engine: Engine) -> Store:
        return SharingStore(engine)

    def entries(self) -> list[BatchEntry[Any]]:
        people = [
            [
                (consented(f"consent-{i}", nhs_number=n), None),
                (missed(f"APT-{i}", nhs_number=n), None),  # not a sharing event
                (consented(f"consent-{i}b", nhs_number=n, at=T0 + timedelta(days=1)), None),
                (about(withdrawn(record_id=f"w-{i}"), n), None),
                (about(override(f"override-{i}"), n), None),
            ]
            for i, n in enumerate(NHS)
        ]
        mixed = round_robin(people)
        half = len(mixed) // 2
        return numbered([*mixed[:half], (erasure(NHS[1]), None), *mixed[half:]])

    def poison(self) -> tuple[Any, bytes | None]:
        event = consented()
        payload = event.payload.model_copy(update={"recorded_by": 5})  # past decoding, malformed
        return event.model_copy(update={"payload": payload}), None


def _disclosure(i: int) -> Disclosure:
    n = NHS[i % FAMILIES]
    return Disclosure(
        disclosure_id=uuid.UUID(int=i + 1),
        disclosed_at=T0 + timedelta(minutes=i),
        channel=Channel.API,
        recipient_organisation="355",
        recipient_role="SOCIAL_WORKER",
        recipient_user="sw-7",
        subject_key=n,
        family_key=f"family-{i % FAMILIES}",
        purpose=Purpose.DIRECT_CARE,
        items=(
            DisclosedItem(
                category=DataCategory.DEMOGRAPHICS, controller="R0A", basis=LawfulBasis.PUBLIC_TASK
            ),
        ),
        agreement_version="1",
        reference=f"/people/{n}/team",
    )


class TestDisclosureLog(BatchContract):
    """The disclosure log keeps what it is given; it has no fold to refuse an entry."""

    def store(self, engine: Engine) -> Store:
        return DisclosureLog(SharingStore(engine))

    def entries(self) -> list[BatchEntry[Any]]:
        given = [(_disclosure(i), None) for i in range(30)]
        again = [(_disclosure(i), None) for i in (3, 9, 10)]  # redelivered after a crash
        return numbered([*given[:10], *again, *given[10:], (None, None)])
