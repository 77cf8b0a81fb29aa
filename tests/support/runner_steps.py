"""Stand-ins for the projection runner's parts, with the behaviour it relies on: a store whose
position moves with its data in one all-or-nothing apply, a fold that refuses an entry, a
dead-letter sink that acknowledges later, and one journal that shows the order of what
happened (tests/unit/test_runner_batches.py, tests/unit/test_runner_parts.py)."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Sequence

from pydantic import BaseModel
from sqlalchemy.exc import OperationalError

from hub.kafka.codec import DecodeError
from hub.projections.batch import BatchEntry, PoisonEntriesError
from hub.projections.ports import Applied, LogMessage
from hub.quarantine import QuarantineRecord

TOPIC = "families"


class Entry(BaseModel):
    value: int


def down() -> OperationalError:
    return OperationalError("SELECT 1", {}, Exception("the database is restarting"))


class Journal:
    """What happened, in order, across the sink and every step."""

    def __init__(self) -> None:
        self.lines: list[tuple[str, object]] = []

    def note(self, what: str, detail: object) -> None:
        self.lines.append((what, detail))

    def of(self, what: str) -> list[object]:
        return [detail for kind, detail in self.lines if kind == what]


class Sink:
    """The dead-letter topic: records each write once it is "acknowledged"; counts how many
    writes were in flight at once (a batch's dead letters are written together)."""

    def __init__(self, journal: Journal) -> None:
        self.journal = journal
        self.records: list[QuarantineRecord] = []
        self.in_flight = 0
        self.most_in_flight = 0

    async def dead_letter(self, record: QuarantineRecord, topic: str) -> object:
        self.in_flight += 1
        self.most_in_flight = max(self.most_in_flight, self.in_flight)
        await asyncio.sleep(0.01)  # the broker's acknowledgement
        self.in_flight -= 1
        self.records.append(record)
        self.journal.note("dead", record.reason)
        return None


class Decoder:
    """``str(int)`` bytes; anything else does not decode. Counts its calls and their threads."""

    def __init__(self) -> None:
        self.calls = 0
        self.threads: set[int] = set()

    def decode(self, data: bytes) -> Entry | None:
        try:
            return Entry(value=int(data))
        except ValueError as error:
            raise DecodeError(f"not a number: {data!r}") from error

    def decode_many(self, values: Sequence[bytes]) -> list[Entry | DecodeError | None]:
        self.calls += 1
        self.threads.add(threading.get_ident())
        decoded: list[Entry | DecodeError | None] = []
        for value in values:
            try:
                decoded.append(self.decode(value))
            except DecodeError as error:
                decoded.append(error)
        return decoded


class Store:
    """A store that batches: entries below its position skipped, the rest applied with the
    position in one all-or-nothing step; refuses ``refuse`` values before writing anything;
    down for its first ``down_for`` calls."""

    def __init__(
        self,
        name: str,
        journal: Journal,
        *,
        refuse: frozenset[int] = frozenset(),
        down_for: int = 0,
    ) -> None:
        self.name, self.journal, self.refuse, self.down_for = name, journal, refuse, down_for
        self.position = 0
        self.rows: list[tuple[int, int | None]] = []
        self.calls = 0

    def apply(
        self, topic: str, partition: int, offset: int, entry: Entry | None, key: bytes | None = None
    ) -> bool:
        return self.apply_batch(topic, partition, [BatchEntry(offset, entry, key)]) == 1

    def apply_batch(self, topic: str, partition: int, entries: Sequence[BatchEntry[Entry]]) -> int:
        self.calls += 1
        if self.down_for:
            self.down_for -= 1
            raise down()
        fresh = [item for item in entries if item.offset >= self.position]
        refused = {
            item.offset: f"{self.name} refuses {item.entry.value}"
            for item in fresh
            if item.entry is not None and item.entry.value in self.refuse
        }
        if refused:
            raise PoisonEntriesError(refused)
        for item in fresh:
            self.rows.append((item.offset, None if item.entry is None else item.entry.value))
        if fresh:
            self.position = fresh[-1].offset + 1
            self.journal.note(f"{self.name} at", self.position)
        return len(fresh)


class OneAtATime:
    """A step with only the one-entry apply (the erasure steps' kind), no position: every call
    is an effect, so a second application of an entry would show."""

    def __init__(self, journal: Journal, *, refuse: frozenset[int] = frozenset()) -> None:
        self.journal, self.refuse = journal, refuse
        self.seen: list[tuple[int, int | None]] = []

    def __call__(
        self, topic: str, partition: int, offset: int, entry: Entry | None, key: bytes | None = None
    ) -> bool:
        if entry is not None and entry.value in self.refuse:
            raise ValueError(f"one-at-a-time refuses {entry.value}")
        self.seen.append((offset, None if entry is None else entry.value))
        return True


class Forward:
    """The ``then`` hook: what it was given, per call; down for its first ``down_for`` calls."""

    def __init__(self, journal: Journal, down_for: int = 0) -> None:
        self.journal, self.down_for = journal, down_for
        self.batches: list[list[tuple[int | None, bytes | None, bytes]]] = []

    async def __call__(self, applied: Sequence[Applied[Entry]]) -> None:
        if self.down_for:
            self.down_for -= 1
            raise down()
        self.batches.append([(a.entry.value, a.key, a.value) for a in applied])
        self.journal.note("forwarded", len(applied))


def messages(*values: bytes, start: int = 0) -> list[LogMessage]:
    return [
        LogMessage(start + i, value, f"k{start + i}".encode()) for i, value in enumerate(values)
    ]
