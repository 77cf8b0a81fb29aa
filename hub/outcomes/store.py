"""SQL storage of the outcomes projection (SQLite by default, PostgreSQL by URL).

Written only through :meth:`OutcomesStore.apply_parts` (``apply_batch`` is one part of it): a
batch of one or several partitions' entries in one transaction with the log positions, folded in
one pass (:func:`hub.storage.positions.apply_parts_folded`, ADR 0039),
the records of every person the batch is about read in one query, folded in memory in order
(:func:`hub.outcomes.fold.fold`), the changed ones written at the end with one statement per
table (issue 19, ADR 0026). An erasure writes what is pending, then deletes the erased people's
records and every record that names them (a baby's record names its mother; a family's figures
lose that baby rather than keep a byte of an erased person).

A record is one JSON body per person: the report always needs all of them, never a column.
``outcome_refs`` holds the other people a record names, so an erasure finds them.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import NamedTuple

from sqlalchemy import (
    Column,
    Connection,
    Engine,
    MetaData,
    String,
    Table,
    Text,
    delete,
    select,
)

from hub.erasure.sealing import Erasure, LogEntry, subjects_before_erasure
from hub.outcomes.fold import PROJECTION, RECORD, PersonOutcomes, empty_record, fold
from hub.storage.among import among
from hub.storage.bulk import insert_rows
from hub.storage.folded import FoldedStore
from hub.storage.positions import (
    BatchEntry,
    chunks,
    positions,
)
from hub.storage.schema import create_tables, require_current


class OutcomeTables(NamedTuple):
    """One generation of the projection's tables (ADR 0015)."""

    records: Table
    refs: Table


def outcome_tables(metadata: MetaData, suffix: str = "") -> OutcomeTables:
    """The tables named ``<live name><suffix>`` on ``metadata``."""
    records = Table(
        f"outcome_records{suffix}",
        metadata,
        Column("subject_key", String(250), primary_key=True),
        Column("body", Text, nullable=False),
    )
    refs = Table(
        f"outcome_refs{suffix}",
        metadata,
        Column("subject_key", String(250), primary_key=True),
        Column("ref_key", String(250), primary_key=True, index=True),
    )
    return OutcomeTables(records, refs)


outcomes_metadata = MetaData()
LIVE = outcome_tables(outcomes_metadata)


class OutcomesStore(FoldedStore[LogEntry]):
    """Each person's facts for the programme figures."""

    def __init__(
        self, engine: Engine, *, tables: OutcomeTables = LIVE, projection: str = PROJECTION
    ) -> None:
        """``tables`` and ``projection`` choose a generation: the live one unless ``hub
        replay`` builds another (ADR 0015)."""
        super().__init__(engine, projection)
        self._t = tables

    def create_schema(self) -> None:
        create_tables(self.engine, positions, *self._t)
        require_current(self.engine, self._t, rebuild_with=f"hub replay {self._projection}")

    def fold_batch(
        self, connection: Connection, topic: str, fresh: Sequence[tuple[int, BatchEntry[LogEntry]]]
    ) -> dict[int, str]:
        return _fold_batch(connection, self._t, [item for _, item in fresh])

    def records(self) -> list[PersonOutcomes]:
        """Every person's record (the report counts from all of them)."""
        with self.engine.connect() as connection:
            rows = connection.execute(
                select(self._t.records.c.body).order_by(self._t.records.c.subject_key)
            )
            return [RECORD.validate_json(body) for body in rows.scalars()]


def _fold_batch(
    connection: Connection, t: OutcomeTables, fresh: Sequence[BatchEntry[LogEntry]]
) -> dict[int, str]:
    records: dict[str, PersonOutcomes] = {}
    changed: set[str] = set()
    refused: dict[int, str] = {}
    for index, item in enumerate(fresh):
        entry = item.entry
        if entry is None:
            continue
        if isinstance(entry, Erasure):
            _save(connection, t, [records[k] for k in sorted(changed)])
            changed.clear()
            _erase(connection, t, entry.subjects)
            records.clear()
            continue
        try:
            key = entry.subject_key()
            if key not in records:
                records.update(
                    _load(
                        connection,
                        t,
                        subjects_before_erasure(i.entry for i in fresh[index:]) - records.keys(),
                    )
                )
            records[key] = fold(records[key], entry)
        except ValueError as error:
            refused[index] = str(error)
            continue
        changed.add(key)
    if refused:
        return refused  # the caller refuses the batch in its transaction: it rolls back
    _save(connection, t, [records[k] for k in sorted(changed)])
    return {}


def _load(
    connection: Connection, t: OutcomeTables, keys: Iterable[str]
) -> dict[str, PersonOutcomes]:
    wanted = sorted(set(keys))
    found: dict[str, PersonOutcomes] = {}
    for chunk in chunks(wanted):
        rows = connection.execute(
            select(t.records.c.subject_key, t.records.c.body).where(
                among(connection, t.records.c.subject_key, chunk)
            )
        )
        for key, body in rows:
            found[key] = RECORD.validate_json(body)
    # an empty record only for those with none (a model built is not free, and most have one)
    return {key: found[key] if key in found else empty_record(key) for key in wanted}


def _save(connection: Connection, t: OutcomeTables, records: Sequence[PersonOutcomes]) -> None:
    """Replace the changed records and their references: one delete and one insert per table."""
    if not records:
        return
    keys = [r.subject_key for r in records]
    for chunk in chunks(keys):
        for table in (t.records, t.refs):
            connection.execute(delete(table).where(among(connection, table.c.subject_key, chunk)))
    insert_rows(
        connection,
        t.records,
        [{"subject_key": r.subject_key, "body": RECORD.dump_json(r).decode()} for r in records],
    )
    insert_rows(
        connection,
        t.refs,
        [
            {"subject_key": r.subject_key, "ref_key": ref}
            for r in records
            for ref in sorted(set(r.refs()))
        ],
    )


def _erase(connection: Connection, t: OutcomeTables, subjects: Sequence[str]) -> None:
    """Delete the erased people's records and every record naming them."""
    if not subjects:
        return
    naming = set(
        connection.execute(
            select(t.refs.c.subject_key).where(t.refs.c.ref_key.in_(subjects))
        ).scalars()
    )
    gone = sorted(naming | set(subjects))
    for chunk in chunks(gone):
        for table in (t.records, t.refs):
            connection.execute(delete(table).where(table.c.subject_key.in_(chunk)))
