"""Creating a store's tables once per process, when several processes may race to do it."""

from __future__ import annotations

import threading
from collections.abc import Sequence

from sqlalchemy import Engine, MetaData, Table, inspect
from sqlalchemy.exc import OperationalError, ProgrammingError


class SchemaOnce:
    """``metadata``'s tables on ``engine``, created at most once by this object.

    The API, the worker and the CLI each create the tables they use at start; two processes
    may issue the same ``CREATE TABLE`` at once. The loser's error is ignored when ``probe``
    (one of the tables) exists afterwards — the winner made them.
    """

    def __init__(self, engine: Engine, metadata: MetaData, probe: Table) -> None:
        self._engine, self._metadata, self._probe = engine, metadata, probe
        self._ready = False
        self._lock = threading.Lock()

    def create(self) -> None:
        with self._lock:
            if self._ready:
                return
            try:
                self._metadata.create_all(self._engine)
            except (OperationalError, ProgrammingError):
                if not inspect(self._engine).has_table(self._probe.name):
                    raise
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
