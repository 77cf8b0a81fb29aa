"""Persisted cursors for extracts: what each source row last published, in SQL.

Councils send whole extracts (every open episode, every referral this year) again and again.
For each extract the cursor keeps one row per source record: the digest of its raw text, the
ids of the events it produced, and the last run that saw it. A run then:

* skips a record whose digest is unchanged (re-running an extract publishes nothing);
* publishes only the *new* events of a changed record (ids are content-derived);
* after a complete pass, reports the records no run has seen since (they disappeared from the
  source) and forgets them, so each disappearance is reported once.

A batch's cursor rows are written only after all of its events were acknowledged by Kafka
(published together, :func:`hub.connectors.runtime.deliver`), so a crash or a write the broker
refuses loses nothing: the next run skips what was committed and re-publishes at most the batch
that was in flight (same ids, which the projections absorb).
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Final

from sqlalchemy import (
    Column,
    ColumnElement,
    Connection,
    DateTime,
    Engine,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    and_,
    delete,
    insert,
    select,
    update,
)

from hub.events import utc_now
from hub.storage.among import among
from hub.storage.bulk import insert_rows
from hub.storage.schema import create_tables

cursor_metadata = MetaData()

rows_table = Table(
    "extract_rows",
    cursor_metadata,
    Column("extract", String(200), primary_key=True),
    Column("row_key", String(500), primary_key=True),
    Column("digest", String(64), nullable=False),
    Column("event_ids", Text, nullable=False),
    Column("seen_run", String(36), nullable=False),
)
Index("extract_rows_by_run", rows_table.c.extract, rows_table.c.seen_run)

runs_table = Table(
    "extract_runs",
    cursor_metadata,
    Column("run_id", String(36), primary_key=True),
    Column("extract", String(200), nullable=False, index=True),
    Column("input_name", String(500), nullable=False),
    Column("started_at", DateTime(timezone=True), nullable=False),
    Column("finished_at", DateTime(timezone=True)),
    Column("records", Integer),
    Column("published", Integer),
    Column("disappeared", Integer),
)

# Keys per IN (...) lookup: well under SQLite's and PostgreSQL's parameter limits.
_CHUNK = 500
# Most source rows produce no event (an SSDA903 placement change): their ids as stored, and
# read back, without a JSON round trip per row.
_NO_IDS = json.dumps([])
_NONE: frozenset[str] = frozenset()


@dataclass(frozen=True, slots=True)
class Seen:
    """What the cursor knows of one source record."""

    digest: str
    event_ids: frozenset[str]
    seen_run: str


@dataclass(frozen=True, slots=True)
class Written:
    key: str
    digest: str
    event_ids: frozenset[str]
    # The batch's lookup found a row for the key (a changed record): it is replaced. A new
    # record's row is inserted without a delete first; one there all the same (another run of
    # the same extract at once) fails the commit on the primary key, never silently.
    replaces: bool = True


@dataclass(frozen=True, slots=True)
class RunSummary:
    run_id: str
    extract: str
    input_name: str
    started_at: datetime
    finished_at: datetime | None
    records: int | None
    published: int | None
    disappeared: int | None


def _rows_with(
    connection: Connection, extract: str, keys: Sequence[str]
) -> Iterator[ColumnElement[bool]]:
    """This extract's rows with these keys, as one condition per chunk of keys (on PostgreSQL
    the chunk as one array, ADR 0051)."""
    for start in range(0, len(keys), _CHUNK):
        chunk = keys[start : start + _CHUNK]
        yield and_(rows_table.c.extract == extract, among(connection, rows_table.c.row_key, chunk))


def _insert_rows(
    connection: Connection, extract: str, run_id: str, written: Sequence[Written]
) -> None:
    """The batch's rows in one statement. On SQLite one executemany of SQLAlchemy's own INSERT,
    compiled once, the rows handed to the driver as they are: SQLAlchemy's per-row processing
    of parameters (every column is a plain string) was half the insert's CPU, and a first run
    inserts a row per source row (docs/benchmarks.md, "Extracts"). On PostgreSQL, where the
    driver's executemany runs row by row, the rows go as one array per column (ADR 0052)."""
    rows = [
        (
            extract,
            row.key,
            row.digest,
            json.dumps(sorted(row.event_ids)) if row.event_ids else _NO_IDS,
            run_id,
        )
        for row in written
    ]
    if connection.dialect.name == "postgresql":
        insert_rows(connection, rows_table, [dict(zip(_COLUMNS, r, strict=True)) for r in rows])
        return
    statement = insert(rows_table).compile(dialect=connection.dialect)
    if statement.positional and tuple(statement.positiontup or ()) == _COLUMNS:  # SQLite's ?
        connection.exec_driver_sql(str(statement), rows)
    else:  # a database with named parameters
        connection.exec_driver_sql(
            str(statement), [dict(zip(_COLUMNS, r, strict=True)) for r in rows]
        )


_COLUMNS: Final = ("extract", "row_key", "digest", "event_ids", "seen_run")


class CursorStore:
    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def create_schema(self) -> None:
        create_tables(self._engine, cursor_metadata)

    def start(self, extract: str, input_name: str) -> str:
        run_id = str(uuid.uuid4())
        with self._engine.begin() as connection:
            connection.execute(
                insert(runs_table).values(
                    run_id=run_id, extract=extract, input_name=input_name, started_at=utc_now()
                )
            )
        return run_id

    def lookup(self, extract: str, keys: Iterable[str]) -> dict[str, Seen]:
        found: dict[str, Seen] = {}
        wanted = list(dict.fromkeys(keys))
        with self._engine.connect() as connection:
            for rows_with_keys in _rows_with(connection, extract, wanted):
                rows = connection.execute(
                    select(
                        rows_table.c.row_key,
                        rows_table.c.digest,
                        rows_table.c.event_ids,
                        rows_table.c.seen_run,
                    ).where(rows_with_keys)
                )
                for key, digest, event_ids, seen_run in rows:
                    ids = _NONE if event_ids == _NO_IDS else frozenset(json.loads(event_ids))
                    found[key] = Seen(digest, ids, seen_run)
        return found

    def commit(
        self, extract: str, run_id: str, written: Sequence[Written], seen: Sequence[str]
    ) -> None:
        """After the batch's events were acknowledged: remember new/changed rows, mark the rest
        seen by this run. One transaction."""
        with self._engine.begin() as connection:
            replaced = [row.key for row in written if row.replaces]
            for rows_with_keys in _rows_with(connection, extract, replaced):
                connection.execute(delete(rows_table).where(rows_with_keys))
            if written:
                _insert_rows(connection, extract, run_id, written)
            for rows_with_keys in _rows_with(connection, extract, seen):
                connection.execute(update(rows_table).where(rows_with_keys).values(seen_run=run_id))

    def finish(self, extract: str, run_id: str, *, records: int, published: int) -> list[str]:
        """Close a complete run: return (and forget) the records it did not see."""
        gone = and_(rows_table.c.extract == extract, rows_table.c.seen_run != run_id)
        with self._engine.begin() as connection:
            disappeared = list(
                connection.execute(select(rows_table.c.row_key).where(gone)).scalars()
            )
            connection.execute(delete(rows_table).where(gone))
            connection.execute(
                update(runs_table)
                .where(runs_table.c.run_id == run_id)
                .values(
                    finished_at=utc_now(),
                    records=records,
                    published=published,
                    disappeared=len(disappeared),
                )
            )
        return sorted(disappeared)

    def runs(self, extract: str) -> list[RunSummary]:
        """Every run of an extract, newest first; an unfinished one crashed or is running."""
        with self._engine.connect() as connection:
            rows = connection.execute(
                select(runs_table)
                .where(runs_table.c.extract == extract)
                .order_by(runs_table.c.started_at.desc())
            )
            return [RunSummary(*row) for row in rows]
