"""The SQL engine every store shares: SQLite by default, PostgreSQL by URL.

SQLite gets the pragmas the hub relies on at every connection: a busy timeout before WAL (two
processes may start together), WAL so the API reads while the worker writes, and
``secure_delete`` so an erased person's rows do not linger in free pages (ADR 0020).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event

from hub.storage.files import private_file


def make_engine(url: str) -> Engine:
    """An engine for ``url``; a SQLite file is created 0600 (its ``-wal``/``-shm`` files take
    its mode) and deletes overwrite what they delete (``secure_delete``), so an erased person's
    rows do not linger in free pages of the file (ADR 0020)."""
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
            cursor.execute("PRAGMA secure_delete=ON")
            cursor.close()

    return engine
