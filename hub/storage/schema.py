"""Creating a store's tables when several processes may race to do it.

``make run`` starts the API, the worker and the MLLP listener at once on one fresh database;
each creates the tables it uses. ``CREATE TABLE`` after a "does it exist?" check is a race: the
loser fails with ``table ... already exists`` (issue 16). So every store creates its tables
through :func:`create_tables`, which holds a database-wide lock while it checks and creates:
PostgreSQL's transaction-scoped advisory lock, SQLite's write lock (``BEGIN IMMEDIATE``). Both
databases' DDL is transactional, so a process that waited on the lock sees every table the
winner made, and creates only what is still missing.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence

from sqlalchemy import Connection, Engine, MetaData, Table, inspect, text

# Any fixed 64-bit key: the one advisory lock the hub takes, for creating tables.
_PG_SCHEMA_LOCK = 0x7468696E6B66616D  # "thinkfam"


def _lock_schema(connection: Connection) -> None:
    """Hold, until ``connection``'s transaction ends, the lock that serialises creating tables."""
    dialect = connection.dialect.name
    if dialect == "postgresql":
        connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _PG_SCHEMA_LOCK})
    elif dialect == "sqlite":
        # pysqlite opens no transaction for DDL itself; this one takes the write lock at once
        # (waiting up to the connection's busy_timeout), so checks and creates are one unit.
        connection.exec_driver_sql("BEGIN IMMEDIATE")


def create_tables(engine: Engine, *schemas: MetaData | Table) -> None:
    """Create each of ``schemas`` (all of a metadata's tables, or one table) that is missing,
    safely when other processes do the same at the same time."""
    with engine.begin() as connection:
        _lock_schema(connection)
        for schema in schemas:
            if isinstance(schema, Table):
                schema.create(connection, checkfirst=True)
            else:
                schema.create_all(connection)


class SchemaOnce:
    """``metadata``'s tables on ``engine``, created at most once by this object: for stores that
    create their tables on first use, not only when a composition root asks."""

    def __init__(self, engine: Engine, metadata: MetaData) -> None:
        self._engine, self._metadata = engine, metadata
        self._ready = False
        self._lock = threading.Lock()

    def create(self) -> None:
        with self._lock:
            if not self._ready:
                create_tables(self._engine, self._metadata)
                self._ready = True

    def ensure(self) -> None:
        """Before a read or write: create the tables if this object has not yet."""
        if not self._ready:
            self.create()


class StaleTablesError(RuntimeError):
    """A table made by an earlier version of the code, which this one cannot use."""


def require_current(engine: Engine, tables: Sequence[Table], *, rebuild_with: str) -> None:
    """Refuse to start on tables that lack a column, or have another primary key, than the code
    declares (``CREATE TABLE IF NOT EXISTS`` leaves an existing table as it was).

    A projection's tables are a fold of the log: the remedy named is to rebuild them
    (``hub replay``, ADR 0015), which makes them afresh with today's shape and swaps them in.
    """
    inspector = inspect(engine)
    stale = []
    for table in tables:
        if not inspector.has_table(table.name):
            continue
        present = {column["name"] for column in inspector.get_columns(table.name)}
        missing = sorted(set(table.columns.keys()) - present)
        key = inspector.get_pk_constraint(table.name)["constrained_columns"]
        if missing or set(key) != {column.name for column in table.primary_key}:
            why = f"missing {', '.join(missing)}" if missing else f"primary key ({', '.join(key)})"
            stale.append(f"{table.name} ({why})")
    if stale:
        raise StaleTablesError(
            f"tables made by an earlier version: {'; '.join(stale)}. Rebuild them from the log "
            f"with `{rebuild_with}` (the worker and the API may be stopped meanwhile)."
        )
