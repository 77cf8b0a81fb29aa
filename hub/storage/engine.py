"""The SQL engine every store shares: SQLite by default, PostgreSQL by URL.

SQLite gets the pragmas the hub relies on at every connection: a busy timeout before WAL (two
processes may start together), WAL so the API reads while the worker writes, the
``synchronous`` level (below), and ``secure_delete`` so an erased person's rows do not linger in
free pages (ADR 0020).

``synchronous`` is ``FULL`` (ADR 0026), set rather than left to the build's default. In WAL mode
``NORMAL`` would sync the WAL at checkpoints rather than at every commit: never a corrupt file,
but the last commits before a power loss or an OS crash (not a process crash) could be lost.
For the projections alone that would be safe: Kafka is the source of truth and each position
commits with its rows (ADR 0004), so a lost commit loses both, and the worker, resuming from the
stored positions, applies those entries again. But this engine is shared with what exists
nowhere else (client credentials, subscriptions, extract cursors; the key store's subject keys
on theirs, where a lost key would leave events already acknowledged unreadable for good), so a
sync per commit stays. With a batch per transaction (issue 19) that is one flush per batch, not
per entry. Where only derived tables are written, the writer relaxes its own transactions
(``hub replay``'s build, :class:`hub.projections.replay.Durability`).
"""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

from psycopg.types.array import ListBinaryDumper
from sqlalchemy import Engine, create_engine, event
from tenacity import Retrying, retry_if_exception, stop_after_delay, wait_exponential_jitter

from hub.storage.files import private_file


def make_engine(url: str) -> Engine:
    """An engine for ``url``; a SQLite file is created 0600 (its ``-wal``/``-shm`` files take
    its mode) and deletes overwrite what they delete (``secure_delete``), so an erased person's
    rows do not linger in free pages of the file (ADR 0020)."""
    engine = create_engine(url, pool_pre_ping=True)
    if engine.dialect.name == "postgresql":

        @event.listens_for(engine, "connect")
        def _binary_arrays(dbapi_connection: Any, _record: Any) -> None:
            # Lists (the bulk writes' and the key lists' arrays) go in binary: psycopg's text
            # form escapes every element with a regular expression, most of the cost of a
            # batch's array of JSON bodies (ADR 0052). Registered last, binary is what a
            # list's automatic format picks; an empty or all-NULL list still goes as text.
            dbapi_connection.adapters.register_dumper(list, ListBinaryDumper)

    if engine.dialect.name == "sqlite":
        database = engine.url.database
        if database and database != ":memory:" and not database.startswith("file:"):
            private_file(Path(database))

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
            cursor = dbapi_connection.cursor()
            # First: switching to WAL takes a lock, which another process starting at the same
            # time may hold for a moment.
            cursor.execute("PRAGMA busy_timeout=5000")
            _switch_to_wal(cursor)  # API reads while the worker writes
            cursor.execute("PRAGMA synchronous=FULL")  # a sync per commit: the module's docstring
            cursor.execute("PRAGMA secure_delete=ON")
            cursor.close()

    return engine


def _locked(error: BaseException) -> bool:
    return isinstance(error, sqlite3.OperationalError) and "locked" in str(error)


def _switch_to_wal(cursor: Any) -> None:
    """``PRAGMA journal_mode=WAL``, tried again for a while when the file is locked: SQLite does
    not always apply its busy timeout to the switch, so processes opening a new database file
    at once (``hub run``'s children, the schema race test) could fail with "database is
    locked" although the lock is held for milliseconds. A file already in WAL mode answers at
    once."""
    for attempt in Retrying(
        retry=retry_if_exception(_locked),
        stop=stop_after_delay(10),
        wait=wait_exponential_jitter(multiplier=0.01, max=0.5, jitter=0.05),
        reraise=True,
    ):
        with attempt:
            cursor.execute("PRAGMA journal_mode=WAL")
