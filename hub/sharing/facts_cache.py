"""One process's copy of the sharing facts releases read, valid for one date of the store.

:class:`hub.sharing.store.SharingStore` dates its facts by a counter that every change of them
moves in its own transaction (ADR 0029). :class:`FactsCache` reads that date before each
release and serves the subject's :class:`~hub.sharing.memo.DecisionMemo` from memory while it
is unchanged; the date is read *before* the facts, so facts are never kept under a date later
than theirs: a cache may be ahead of the store, never behind it. An erasure drops everything
(:meth:`FactsCache.forget`) and keeps nothing until the date moves.

:class:`DateReader` runs the date's statement on a connection of its own, kept open outside the
engine's pool: a pooled checkout costs the pool's liveness ping and the reset on return, three
round trips for a one-row read, and the read is most of what a cached release costs.
"""

from __future__ import annotations

import contextlib
import threading
import weakref
from collections.abc import Callable
from typing import Any, Final

from sqlalchemy import Engine, Select

from hub.sharing.facts import SharingFacts
from hub.sharing.memo import DecisionMemo
from hub.sharing.policy import Subject

CACHED_SUBJECTS: Final = 10_000  # facts of this many subjects at most are kept in memory

FactsKey = tuple[frozenset[str], str | None]
_NOT_HELD: Final = object()
_HOLD_NEXT: Final = object()


class DateReader:
    """One statement, read on a DBAPI connection this reader holds (autocommit: each read sees
    what is committed, and holds no transaction open). A connection that fails is closed and
    the read tried once more on a new one (a restarted server), so no liveness ping is needed;
    a second failure is raised. :meth:`close` lets it go; the next read opens another."""

    def __init__(self, engine: Engine, statement: Select[Any]) -> None:
        self._engine = engine
        self._sql = str(
            statement.compile(dialect=engine.dialect, compile_kwargs={"literal_binds": True})
        )
        self.errors: type[Exception] = engine.dialect.loaded_dbapi.Error  # the driver's
        self._lock = threading.Lock()
        self._connection: Any = None
        self._closing: weakref.finalize[Any, DateReader] | None = None

    def read(self) -> object:
        with self._lock:
            try:
                return self._read()
            except self.errors:
                self._close()
            try:
                return self._read()  # on a new connection
            except self.errors:
                self._close()
                raise

    def _read(self) -> object:
        if self._connection is None:
            self._connection = self._open()
        cursor = self._connection.cursor()
        try:
            cursor.execute(self._sql)
            return cursor.fetchone()
        finally:
            cursor.close()

    def close(self) -> None:
        with self._lock:
            self._close()

    def _open(self) -> Any:
        pooled = self._engine.raw_connection()
        pooled.detach()  # ours from now on: the pool neither pings, resets nor closes it
        connection: Any = pooled.dbapi_connection
        if self._engine.dialect.name == "postgresql":
            connection.autocommit = True
        elif self._engine.dialect.name == "sqlite":
            connection.isolation_level = None  # autocommit: no read transaction held open
        # Closed with this reader when it is collected (its store with it), or at exit.
        self._closing = weakref.finalize(self, _close, connection, self.errors)
        return connection

    def _close(self) -> None:
        self._connection = None
        if self._closing is not None:
            self._closing()  # runs once


def _close(connection: Any, errors: type[Exception]) -> None:
    with contextlib.suppress(errors):  # already broken: nothing left to release
        connection.close()


class FactsCache:
    """Subjects' memos under one date of the store; ``load`` reads a subject's facts."""

    def __init__(
        self, date: DateReader, load: Callable[[Subject, tuple[str, ...]], SharingFacts]
    ) -> None:
        self._read_date = date.read
        self._dates = date
        self._load = load
        self._lock = threading.Lock()
        self._date: object = None
        self._facts: dict[FactsKey, DecisionMemo] = {}
        self._generation = 0  # moved by forget: a load that began before it is not kept
        self._held: object = _NOT_HELD  # after forget: the date under which nothing is kept

    @property
    def size(self) -> int:
        with self._lock:
            return len(self._facts)

    def close(self) -> None:
        self._dates.close()

    def forget(self) -> None:
        """Drop every cached fact, and keep none under the facts' date now (read here: in the
        process that erases, before the marker is published) or, if it cannot be read, under
        the date the next read finds."""
        with self._lock:
            self._date, self._facts = None, {}
            self._generation += 1
            self._held = _HOLD_NEXT
        try:
            date = self._read_date()
        except self._dates.errors:
            return  # the next read dates the hold instead
        with self._lock:
            if self._held is _HOLD_NEXT:
                self._held = date

    def memo(self, subject: Subject, also: tuple[str, ...]) -> DecisionMemo:
        key: FactsKey = (frozenset((subject.person_key, *also)), subject.family_key)
        with self._lock:
            generation = self._generation
        date = self._read_date()
        with self._lock:
            if date == self._date and key in self._facts:
                return self._facts[key]
        memo = DecisionMemo(self._load(subject, also))
        with self._lock:
            if generation != self._generation:
                return memo  # forgotten meanwhile: use it for this read, keep nothing
            if self._held is _HOLD_NEXT:
                self._held = date
            if self._held == date:
                return memo  # an erasure may not be applied yet: keep nothing until it is
            self._held = _NOT_HELD
            if date != self._date:
                self._date, self._facts = date, {}
            if len(self._facts) >= CACHED_SUBJECTS:
                self._facts.clear()
            self._facts[key] = memo
        return memo
