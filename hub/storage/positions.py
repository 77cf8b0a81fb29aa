"""Log positions stored in the same transaction as a projection's data (ADR 0004).

Every SQL projection applies log entries through :func:`apply_batch_at_position`: the stored
position is read once (entries already applied are skipped), the projection writes the rows of
the rest, and the position is moved past the last — all in one transaction, so at-least-once
delivery has exactly-once effects, and a batch of one partition's entries costs one transaction
rather than one per entry (issue 19, ADR 0026). :func:`apply_at_position` is the same for one
entry, and :func:`apply_one` every store's one-entry ``apply`` as a batch of one. A store whose
fold refuses entries raises :class:`PoisonEntriesError` inside that transaction, so nothing of
the batch is kept. A batch of several partitions' parts (the worker's) reads every position in
one query; :func:`apply_parts_folded` hands a store's fold the whole batch at once, so it loads
its state once per batch rather than once per part (ADR 0039).

The positions table is on :data:`positions_metadata` alone: each store that keeps positions
creates it with its own tables (``create_tables(engine, positions, ...)``), so no store's schema
depends on which other modules happen to be imported. :func:`upsert` is the stores' shared keyed
write, :func:`upsert_many` its bulk form (one statement over many rows).

The position is read ``FOR UPDATE`` (a row lock on PostgreSQL; SQLite's single writer already
serialises), so ``hub replay``'s swap (ADR 0015), which takes the same row locks first, never
races an apply that read the position of the generation it replaces.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from pydantic import BaseModel
from sqlalchemy import (
    BigInteger,
    Column,
    Connection,
    Engine,
    Integer,
    MetaData,
    String,
    Table,
    bindparam,
    insert,
    select,
    update,
)
from sqlalchemy.exc import IntegrityError

R = TypeVar("R", bound=BaseModel)


@dataclass(frozen=True, slots=True)
class BatchEntry(Generic[R]):
    """One entry of a batch: its offset, the decoded entry (``None``: dead-lettered or its key
    destroyed — only the position moves) and its Kafka key (the family key on the family topic).

    Defined here, below the stores, so that every store can take a batch; the runner's side of
    the protocol (``hub.projections.batch``) re-exports it."""

    offset: int
    entry: R | None
    key: bytes | None = None


class PoisonEntriesError(ValueError):
    """The fold refused these entries (offset → reason); nothing of the batch was written.

    A ``ValueError``, as a fold's refusal of one entry always was, so a caller that dead-letters
    a refused entry catches both."""

    def __init__(self, reasons: Mapping[int, str], partition: int | None = None) -> None:
        self.reasons = dict(reasons)
        self.partition = partition  # set where a batch spans partitions (apply_parts_at_positions)
        first = min(self.reasons)
        super().__init__(f"{len(self.reasons)} entries refused, first @{first}: {reasons[first]}")


positions_metadata = MetaData()

positions = Table(
    "projection_positions",
    positions_metadata,
    Column("projection", String(100), primary_key=True),
    Column("topic", String(250), primary_key=True),
    Column("partition", Integer, primary_key=True),
    Column("next_offset", BigInteger, nullable=False),
)


def next_offset(
    connection: Connection,
    projection: str,
    topic: str,
    partition: int,
    *,
    for_update: bool = False,
) -> int | None:
    query = select(positions.c.next_offset).where(
        positions.c.projection == projection,
        positions.c.topic == topic,
        positions.c.partition == partition,
    )
    row = connection.execute(query.with_for_update() if for_update else query).scalar_one_or_none()
    return None if row is None else int(row)


def positions_of(connection: Connection, projection: str) -> dict[tuple[str, int], int]:
    """Every ``(topic, partition)`` a projection has a position in, with its next offset."""
    rows = connection.execute(
        select(positions.c.topic, positions.c.partition, positions.c.next_offset).where(
            positions.c.projection == projection
        )
    )
    return {(topic, int(partition)): int(offset) for topic, partition, offset in rows}


def apply_at_position(
    engine: Engine,
    projection: str,
    topic: str,
    partition: int,
    offset: int,
    write: Callable[[Connection], None] | None,
) -> bool:
    """Run ``write`` and move the position past ``offset`` atomically; False if already applied.

    ``write`` is None for an entry that was dead-lettered: only the position moves. The batch
    form for one entry, so both take the same path.
    """

    def write_one(connection: Connection, _fresh: Sequence[BatchEntry[Any]]) -> None:
        if write is not None:
            write(connection)

    one: list[BatchEntry[Any]] = [BatchEntry(offset, None)]
    return apply_batch_at_position(engine, projection, topic, partition, one, write_one) == 1


def apply_one(
    apply_batch: Callable[[str, int, Sequence[BatchEntry[R]]], int],
    topic: str,
    partition: int,
    one: BatchEntry[R],
) -> bool:
    """A store's one-entry ``apply`` through its ``apply_batch``, as a batch of one: False if the
    entry had already been applied. A refused entry raises ``ValueError`` with the fold's reason
    (what a one-entry apply always raised), not the batch's :class:`PoisonEntriesError`."""
    try:
        return apply_batch(topic, partition, [one]) == 1
    except PoisonEntriesError as refused:
        raise ValueError(refused.reasons[one.offset]) from refused


def apply_batch_at_position(
    engine: Engine,
    projection: str,
    topic: str,
    partition: int,
    entries: Sequence[BatchEntry[R]],
    write: Callable[[Connection, Sequence[BatchEntry[R]]], None],
) -> int:
    """In one transaction: read the stored position ``FOR UPDATE`` once, call ``write`` with the
    entries at or past it (in order; not called when there are none), and move the position past
    the last entry. Returns how many entries were fresh (0: all already applied).

    ``entries`` are one partition's, in offset order. Whatever ``write`` raises rolls the whole
    batch back (a :class:`PoisonEntriesError` among them), the position included.
    """
    if not entries:
        return 0
    try:
        return _apply_batch(engine, projection, topic, partition, entries, write)
    except IntegrityError:
        # The partition's first position row was written meanwhile by someone else (a replay
        # swapping in its positions): nothing of ours was kept, so decide again from that row.
        return _apply_batch(engine, projection, topic, partition, entries, write)


def _apply_batch(
    engine: Engine,
    projection: str,
    topic: str,
    partition: int,
    entries: Sequence[BatchEntry[R]],
    write: Callable[[Connection, Sequence[BatchEntry[R]]], None],
) -> int:
    def write_part(connection: Connection, _: int, fresh: Sequence[BatchEntry[R]]) -> None:
        write(connection, fresh)

    return _apply_parts(engine, projection, topic, [(partition, entries)], write_part, None)


# After each part of :func:`apply_parts_at_positions`: the part's index and the transaction.
AfterPart = Callable[[int, Connection], None]


def apply_parts_at_positions(
    engine: Engine,
    projection: str,
    topic: str,
    parts: Sequence[tuple[int, Sequence[BatchEntry[R]]]],
    write: Callable[[Connection, int, Sequence[BatchEntry[R]]], None],
    after_part: AfterPart | None = None,
    finish: Callable[[Connection], None] | None = None,
) -> int:
    """:func:`apply_batch_at_position` for a batch of several parts, each one partition's
    entries in offset order (a partition may have several parts), applied in the order given,
    in one transaction with every partition's position: each partition's position read ``FOR
    UPDATE`` once, ``write(connection, partition, fresh)`` called for each part's fresh entries
    and ``after_part(index, connection)`` after each part, fresh or not (the person index routes
    a part's entries as that part leaves its rows, ADR 0010), then ``finish(connection)`` once,
    before the positions are written (the person index writes its batch's rows there, ADR
    0044). A refusal should name its partition (:class:`PoisonEntriesError`'s ``partition``).
    Returns how many were fresh."""
    if not any(entries for _, entries in parts):
        return 0
    try:
        return _apply_parts(engine, projection, topic, parts, write, after_part, finish)
    except IntegrityError:  # as in apply_batch_at_position: decide again from the new rows
        return _apply_parts(engine, projection, topic, parts, write, after_part, finish)


def _apply_parts(
    engine: Engine,
    projection: str,
    topic: str,
    parts: Sequence[tuple[int, Sequence[BatchEntry[R]]]],
    write: Callable[[Connection, int, Sequence[BatchEntry[R]]], None],
    after_part: AfterPart | None,
    finish: Callable[[Connection], None] | None = None,
) -> int:
    with engine.begin() as connection:
        stored = read_positions(connection, projection, topic, [p for p, _ in parts])
        moved = dict(stored)
        applied = 0
        for index, (partition, entries) in enumerate(parts):
            at = moved[partition]
            fresh = [e for e in entries if at is None or e.offset >= at]
            if fresh:
                try:
                    write(connection, partition, fresh)
                except PoisonEntriesError as refused:  # name the partition, for the runner
                    if refused.partition is None:
                        refused.partition = partition
                    raise
                applied += len(fresh)
                moved[partition] = fresh[-1].offset + 1
            if after_part is not None:
                after_part(index, connection)
        if finish is not None:
            finish(connection)
        write_positions(connection, projection, topic, stored, moved)
    return applied


# A store's fold of a whole batch (:func:`apply_all_at_positions`): every part's fresh entries,
# each with its partition, in the order given; it returns what it refused, by index in that list.
WriteAll = Callable[[Connection, Sequence[tuple[int, BatchEntry[R]]]], Mapping[int, str]]


def apply_all_at_positions(
    engine: Engine,
    projection: str,
    topic: str,
    parts: Sequence[tuple[int, Sequence[BatchEntry[R]]]],
    write_all: WriteAll[R],
) -> int:
    """:func:`apply_parts_at_positions` for a store that folds the whole batch in one pass: in
    one transaction, every partition's position read ``FOR UPDATE`` in one query, ``write_all``
    called once with every part's fresh entries (each with its partition, the parts' order
    kept), so the store loads its families' state once per batch rather than once per part,
    and every moved position written. Entries of different partitions are of different
    families (the family topic is keyed by family, ADR 0010), so folding them in one pass
    decides what folding them part by part does.

    What ``write_all`` refuses (its indexes into the list it was given) is raised as
    :class:`PoisonEntriesError` inside the transaction, so nothing is written: the refusals of
    the first partition that has any, naming it (the runner dead-letters them and applies the
    batch again; a fold is pure, so that pass refuses the other partitions' the same way).
    Returns how many entries were fresh."""
    if not any(entries for _, entries in parts):
        return 0
    try:
        return _apply_all(engine, projection, topic, parts, write_all)
    except IntegrityError:  # as in apply_batch_at_position: decide again from the new rows
        return _apply_all(engine, projection, topic, parts, write_all)


def apply_parts_folded(
    engine: Engine,
    projection: str,
    topic: str,
    parts: Sequence[tuple[int, Sequence[BatchEntry[R]]]],
    write_all: WriteAll[R],
    after_part: AfterPart | None = None,
) -> int:
    """A store's ``apply_parts`` (:class:`hub.projections.batch.PartsApply`) through its fold of
    a whole batch: :func:`apply_all_at_positions`, the whole batch in one pass; with an
    ``after_part`` hook (which must see each part as it leaves the rows) each part folded in
    turn through :func:`apply_parts_at_positions` instead."""
    if after_part is None:
        return apply_all_at_positions(engine, projection, topic, parts, write_all)

    def write(connection: Connection, partition: int, fresh: Sequence[BatchEntry[R]]) -> None:
        refused = write_all(connection, [(partition, item) for item in fresh])
        if refused:
            raise PoisonEntriesError({fresh[i].offset: why for i, why in refused.items()})

    return apply_parts_at_positions(engine, projection, topic, parts, write, after_part)


def _apply_all(
    engine: Engine,
    projection: str,
    topic: str,
    parts: Sequence[tuple[int, Sequence[BatchEntry[R]]]],
    write_all: WriteAll[R],
) -> int:
    with engine.begin() as connection:
        stored = read_positions(connection, projection, topic, [p for p, _ in parts])
        moved = dict(stored)
        fresh: list[tuple[int, BatchEntry[R]]] = []
        for partition, entries in parts:
            at = moved[partition]
            mine = [e for e in entries if at is None or e.offset >= at]
            if mine:
                fresh.extend((partition, e) for e in mine)
                moved[partition] = mine[-1].offset + 1
        if fresh:
            refused = write_all(connection, fresh)
            if refused:
                first = fresh[min(refused)][0]
                raise PoisonEntriesError(
                    {
                        fresh[index][1].offset: why
                        for index, why in sorted(refused.items())
                        if fresh[index][0] == first
                    },
                    first,
                )  # in the transaction: it rolls back
        write_positions(connection, projection, topic, stored, moved)
    return len(fresh)


# A batch's position read and update, built once: every store runs both in every batch's
# transaction, and building SQLAlchemy's construct anew cost more than running it on SQLite.
_READ_POSITIONS = (
    select(positions.c.partition, positions.c.next_offset)
    .where(
        positions.c.projection == bindparam("b_projection"),
        positions.c.topic == bindparam("b_topic"),
        positions.c.partition.in_(bindparam("b_partitions", expanding=True)),
    )
    .order_by(positions.c.partition)  # the row locks in one order, as the replay's swap
    .with_for_update()
)
_UPDATE_POSITIONS = (
    update(positions)
    .where(
        (positions.c.projection == bindparam("b_projection"))
        & (positions.c.topic == bindparam("b_topic"))
        & (positions.c.partition == bindparam("b_partition"))
    )
    .values(next_offset=bindparam("b_past"))
)


def read_positions(
    connection: Connection, projection: str, topic: str, partitions: Iterable[int]
) -> dict[int, int | None]:
    """Each of ``partitions``' stored next offset (``None``: none yet), read ``FOR UPDATE`` in
    one query: a batch of several partitions costs one read of positions, not one each."""
    wanted = sorted(set(partitions))
    found: dict[int, int | None] = dict.fromkeys(wanted)
    rows = connection.execute(
        _READ_POSITIONS, {"b_projection": projection, "b_topic": topic, "b_partitions": wanted}
    )
    for partition, offset in rows:
        found[int(partition)] = int(offset)
    return found


def write_positions(
    connection: Connection,
    projection: str,
    topic: str,
    stored: Mapping[int, int | None],
    moved: Mapping[int, int | None],
) -> None:
    """Write every position that moved from ``stored`` to ``moved``: one insert for those that
    had none, one update (executemany) for the rest."""
    new = [
        {"projection": projection, "topic": topic, "partition": p, "next_offset": past}
        for p, past in moved.items()
        if past is not None and stored[p] is None
    ]
    changed = [
        {"b_projection": projection, "b_topic": topic, "b_partition": p, "b_past": past}
        for p, past in moved.items()
        if past is not None and stored[p] is not None and past != stored[p]
    ]
    if new:
        connection.execute(insert(positions), new)
    if changed:
        connection.execute(_UPDATE_POSITIONS, changed)


def upsert(
    connection: Connection, table: Table, keys: dict[str, Any], values: dict[str, Any]
) -> None:
    """Update the row ``keys`` names with ``values``, or insert it: the stores' one write of a
    keyed row, in the caller's transaction."""
    condition = [table.c[name] == value for name, value in keys.items()]
    if connection.execute(update(table).where(*condition).values(**values)).rowcount == 0:
        connection.execute(insert(table).values(**keys, **values))


def chunks(values: Sequence[str], size: int = 500) -> Iterable[Sequence[str]]:
    """``values`` in slices of ``size``: an ``IN`` list per slice stays far below both
    dialects' limits on bound parameters, however large a batch (a rebuild's)."""
    for start in range(0, len(values), size):
        yield values[start : start + size]
