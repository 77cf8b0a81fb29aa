"""Creating a store's tables once per process, when several processes may race to do it."""

from __future__ import annotations

import threading

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
