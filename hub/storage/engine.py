"""The SQL engine every store shares: SQLite by default, PostgreSQL by URL.

SQLite gets the pragmas the hub relies on at every connection: a busy timeout before WAL (two
processes may start together), WAL so the API reads while the worker writes, the
``synchronous`` level (below), and ``secure_delete`` so an erased person's rows do not linger in
free pages (ADR 0020).

``synchronous`` (ADR 0026). In WAL mode ``NORMAL`` syncs the WAL at checkpoints rather than at
every commit: a commit can never corrupt the database, but the last transactions before a power
loss or an OS crash (not a process crash: those are kept) may be rolled back. That is safe for
an engine that writes only tables derived from the log (``derived=True``): Kafka is the source of
truth and each projection's log position commits in the same transaction as its rows (ADR
0004), so a lost transaction loses its rows *and* its position together, and the worker, which
resumes from the stored positions (ADR 0004's resume), applies those entries again. It is not
safe for what exists nowhere else: the key store's subject keys (an event sealed with a key
whose commit was lost could never be opened), client credentials, subscriptions, extract
cursors. So ``FULL`` (a sync per commit) stays the default, and only a caller that writes
derived tables alone asks for ``NORMAL`` (``hub replay``'s stores, whose fresh generation serves
no one until the swap). A batch of 500 entries is one commit, so ``FULL`` costs one flush per
batch, not per entry.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event

from hub.storage.files import private_file


def make_engine(url: str, *, derived: bool = False) -> Engine:
    """An engine for ``url``; a SQLite file is created 0600 (its ``-wal``/``-shm`` files take
    its mode) and deletes overwrite what they delete (``secure_delete``), so an erased person's
    rows do not linger in free pages of the file (ADR 0020). ``derived``: every table written
    through it is rebuilt from the log, so SQLite may sync less (the module's docstring)."""
    synchronous = "NORMAL" if derived else "FULL"
    engine = create_engine(url, pool_pre_ping=True)
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
            cursor.execute("PRAGMA journal_mode=WAL")  # API reads while the worker writes
            cursor.execute(f"PRAGMA synchronous={synchronous}")  # the module's docstring
            cursor.execute("PRAGMA secure_delete=ON")
            cursor.close()

    return engine
