"""After an erasure, SQLite's write-ahead log forgets the erased rows too (ADR 0020).

With ``secure_delete`` a delete overwrites the row in the database file, but the ``-wal`` file
still holds the page images written before it until SQLite resets the log, which a busy hub may
not do for a long time. So once every projection has applied an erasure marker, the worker
checkpoints each SQLite store and truncates its log to zero bytes. PostgreSQL keeps dead rows
until VACUUM and WAL segments until they are recycled: docs/operations.md says what to run.
"""

from __future__ import annotations

import logging

from sqlalchemy import Engine

from hub.erasure.sealing import Erasure, LogEntry

log = logging.getLogger(__name__)


class ForgetWal:
    """The last projection of the family topic: truncate the SQLite logs after an erasure."""

    def __init__(self, *engines: Engine) -> None:
        self._engines = [e for e in engines if e.dialect.name == "sqlite"]

    def apply(
        self,
        topic: str,
        partition: int,
        offset: int,
        entry: LogEntry | None,
        key: bytes | None = None,
    ) -> bool:
        if not isinstance(entry, Erasure):
            return False
        for engine in self._engines:
            with engine.connect() as connection:
                busy = connection.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)").scalar()
            if busy:
                log.warning(
                    "erasure %s: %s is busy; its write-ahead log keeps the erased rows until the "
                    "next checkpoint",
                    entry.erasure_id,
                    engine.url.database,
                )
        return True
