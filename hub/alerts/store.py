"""SQL storage of the missed-appointment alerts (SQLite by default, PostgreSQL by URL).

A batch (one partition's log entries, or several partitions' parts: the worker's, folded in
one pass, ADR 0039) is applied in one transaction that (1) reads the partitions' stored log
positions and skips the entries already applied, (2) loads the state of every family the batch
touches (one query per table, :func:`hub.alerts.rows.load_states`),
(3) runs the pure fold over the entries in order on that state in memory, (4) writes the
effects (one statement per table) and the change feed, and (5) the new log positions.
At-least-once delivery from Kafka therefore has exactly-once effects here, and a crash between
Kafka's offset commit and ours costs only re-reading a few entries. One entry is a batch of
one (:meth:`MissedAppointmentStore.apply`), so both take one path (issue 19, ADR 0026).

Folding in memory decides what one entry at a time decides only if the state in memory is
what the rows would read back. So: an erasure writes what is pending first and the states are
read again after it (it deletes rows of any family); a booking or alert that moves to another
family (their rows are keyed by id alone: a person who joins a family changes key, ADR 0010)
leaves the state of the family it left; and times are stored in UTC (:mod:`hub.alerts.rows`).
A fold that refuses an entry (``ValueError``) has it collected, and the batch is refused with
all of them (:class:`~hub.storage.positions.PoisonEntriesError`) inside its transaction, so
nothing of it is written.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime

from sqlalchemy import Connection, Engine, select
from sqlalchemy.sql.elements import ColumnElement

from hub.alerts.changes import feed, record_batch, record_erasures
from hub.alerts.fold import PROJECTION, fold
from hub.alerts.rows import (
    EffectWrites,
    JsonColumns,
    alerts_of,
    booking_of,
    erase,
    load_states,
    person_of,
)
from hub.alerts.state import (
    Alert,
    AlertSaved,
    AlertStatus,
    Booking,
    BookingSaved,
    Effect,
    FamilyState,
    Person,
    Rules,
)
from hub.alerts.tables import AlertTables, alert_metadata, alert_tables
from hub.erasure.sealing import Erasure, LogEntry
from hub.events import CaseEvent
from hub.practitioners import PractitionerRef
from hub.storage.folded import FoldedStore
from hub.storage.positions import (
    BatchEntry,
    positions,
)
from hub.storage.schema import create_tables, require_current

LIVE = alert_tables(alert_metadata)
people, team, bookings, alerts, alert_recipients = LIVE


@dataclass(frozen=True)
class AlertView:
    """An alert as its recipient reads it."""

    alert: Alert
    person: Person


class MissedAppointmentStore(FoldedStore[LogEntry]):
    """The projection's tables, written only through :meth:`apply`."""

    def __init__(
        self,
        engine: Engine,
        rules: Rules | None = None,
        *,
        tables: AlertTables = LIVE,
        projection: str = PROJECTION,
        change_feed: bool = True,
        columns: JsonColumns | None = None,
    ) -> None:
        """``tables`` and ``projection`` (its name in the log positions) choose a generation:
        the live one unless ``hub replay`` builds another (ADR 0015). ``change_feed``: append
        alert changes to :mod:`hub.alerts.changes`; never for a rebuilt generation, which
        re-derives state without re-announcing it. ``columns``: how the folds' loads parse
        the rows' JSON (by default keeping what they parsed, :class:`JsonColumns`)."""
        super().__init__(engine, projection)
        self._rules = rules or Rules()
        self._t = tables
        self._change_feed = change_feed and tables is LIVE
        # the folds' loads only; reads parse afresh
        self._columns = JsonColumns() if columns is None else columns

    @property
    def parsed_texts(self) -> int:
        """How many JSON texts this store keeps parsed in memory now (to look at)."""
        return self._columns.held

    def forget(self) -> None:
        """Drop the parsed JSON columns this store keeps in memory (an erasure was learnt of:
        :func:`hub.bootstrap.build_projection_stores` ties this to the key store)."""
        self._columns.forget()

    def create_schema(self) -> None:
        """This generation's tables, the change feed and the log positions: named here, so
        they are made whatever else the process has imported."""
        create_tables(self._engine, positions, feed, *self._t)
        require_current(self._engine, self._t, rebuild_with=f"hub replay {self._projection}")

    def fold_batch(
        self, connection: Connection, topic: str, fresh: Sequence[tuple[int, BatchEntry[LogEntry]]]
    ) -> dict[int, str]:
        """The batch's families' state loaded at once, folded in order, written at the end
        (:class:`_Batch`)."""
        batch = _Batch(connection, self._t, self._rules, self._change_feed, self._columns)
        return batch.run(fresh, topic=topic)

    # -- reads -----------------------------------------------------------------------------

    def state_of(self, family_key: str) -> FamilyState:
        """What the fold would start from for this family: the stored state, as it is."""
        with self._engine.connect() as connection:
            return load_states(connection, self._t, [family_key])[family_key]

    def open_alerts_for(self, practitioner: PractitionerRef) -> list[AlertView]:
        """Alerts addressed (or escalated) to one practitioner and not closed, oldest first."""
        addressed = select(self._t.recipients.c.alert_id).where(
            (self._t.recipients.c.organisation_code == practitioner.organisation_code)
            & (self._t.recipients.c.practitioner_id == practitioner.practitioner_id)
        )
        return self._alert_views(
            self._t.alerts.c.alert_id.in_(addressed)
            & (self._t.alerts.c.status != AlertStatus.CLOSED.value)
        )

    def alerts_about(self, key: str) -> list[AlertView]:
        """Every alert about one person, oldest appointment first."""
        return self._alert_views(self._t.alerts.c.subject_key == key)

    def alert(self, alert_id: uuid.UUID) -> AlertView | None:
        views = self._alert_views(self._t.alerts.c.alert_id == str(alert_id))
        return views[0] if views else None

    def due_bookings(self, now: datetime) -> list[Booking]:
        """Booked appointments with no outcome whose grace period ended by ``now``."""
        with self._engine.connect() as connection:
            rows = connection.execute(
                select(self._t.bookings)
                .where(self._t.bookings.c.outcome.is_(None), self._t.bookings.c.due_at <= now)
                .order_by(self._t.bookings.c.due_at, self._t.bookings.c.booking_id)
            ).mappings()
            return [booking_of(row) for row in rows]

    def unacknowledged(self, raised_by: datetime) -> list[Alert]:
        """Open, unescalated alerts raised at or before ``raised_by``."""
        condition = (
            (self._t.alerts.c.status == AlertStatus.OPEN.value)
            & self._t.alerts.c.escalated_at.is_(None)
            & (self._t.alerts.c.raised_at <= raised_by)
        )
        return [view.alert for view in self._alert_views(condition)]

    def _alert_views(self, condition: ColumnElement[bool]) -> list[AlertView]:
        query = (
            select(
                self._t.alerts,
                self._t.people.c.nhs_number,
                self._t.people.c.given_name,
                self._t.people.c.family_name,
                self._t.people.c.birth_date,
                self._t.people.c.language,
            )
            .outerjoin(
                self._t.people,
                (self._t.people.c.subject_key == self._t.alerts.c.subject_key)
                & (self._t.people.c.group_key == self._t.alerts.c.group_key),
            )
            .where(condition)
            .order_by(self._t.alerts.c.appointment_start, self._t.alerts.c.alert_id)
        )
        with self._engine.connect() as connection:
            rows = connection.execute(query).mappings().all()
            found = alerts_of(connection, self._t, rows)
            return [
                AlertView(alert=alert, person=person_of(row, row["subject_key"]))
                for alert, row in zip(found, rows, strict=True)
            ]


class _Batch:
    """One pass over a batch's fresh entries (every partition's), in its transaction: fold in
    memory, write at the end (and before each erasure); what the fold refused is returned, and
    nothing more written, for the caller to refuse the batch."""

    def __init__(
        self,
        connection: Connection,
        t: AlertTables,
        rules: Rules,
        change_feed: bool,
        columns: JsonColumns,
    ) -> None:
        self._connection = connection
        self._columns = columns
        self._t = t
        self._rules = rules
        self._change_feed = change_feed
        self._states: dict[str, FamilyState] = {}
        # which family's state holds each booking and alert: their rows are keyed by id alone
        self._booking_of: dict[uuid.UUID, str] = {}
        self._alert_of: dict[uuid.UUID, str] = {}
        self._writes = EffectWrites(t)
        self._changes: list[tuple[list[Effect], str]] = []
        self._refused: dict[int, str] = {}  # by index in the batch

    def run(
        self, fresh: Sequence[tuple[int, BatchEntry[LogEntry]]], *, topic: str
    ) -> dict[int, str]:
        """Fold ``fresh`` (each entry with its partition) and write its effects; what the fold
        refused, by index in ``fresh`` (then the caller rolls the transaction back)."""
        start = 0
        while start < len(fresh):
            partition, item = fresh[start]
            if isinstance(item.entry, Erasure):
                self._flush()
                gone = erase(self._connection, self._t, item.entry.subjects)
                if self._change_feed:  # subscribers delete their copies (partner topics)
                    where = f"{topic}/{partition}/{item.offset}"
                    record_erasures(self._connection, gone, cause=where)
                self._forget()  # an erasure deletes rows of any family: read them again
                start += 1
                continue
            stop = next(
                (i for i in range(start, len(fresh)) if isinstance(fresh[i][1].entry, Erasure)),
                len(fresh),
            )
            self._fold(fresh, start, stop, topic)
            start = stop
        if not self._refused:
            self._flush()
        return self._refused

    def _fold(
        self, fresh: Sequence[tuple[int, BatchEntry[LogEntry]]], start: int, stop: int, topic: str
    ) -> None:
        """Fold ``fresh[start:stop]``, a run with no erasure among them, their families read at
        once."""
        keyed: list[tuple[int, str, CaseEvent]] = []
        for index in range(start, stop):
            item = fresh[index][1]
            event = item.entry
            if event is None or isinstance(event, Erasure):
                continue
            try:
                family = item.key.decode("ascii") if item.key is not None else event.subject_key()
            except ValueError as error:
                self._refused[index] = str(error)
                continue
            keyed.append((index, family, event))
        self._load({family for _, family, _ in keyed})
        for index, family, event in keyed:
            try:
                state, effects = fold(self._states[family], event, self._rules)
            except ValueError as error:
                self._refused[index] = str(error)
                continue
            self._states[family] = state
            self._moved(family, effects)
            self._writes.add(effects)
            if self._change_feed:
                partition, item = fresh[index]
                self._changes.append((effects, f"{topic}/{partition}/{item.offset}"))

    def _load(self, families: set[str]) -> None:
        wanted = families - self._states.keys()
        for family, state in load_states(self._connection, self._t, wanted, self._columns).items():
            self._states[family] = state
            self._booking_of.update(dict.fromkeys(state.bookings, family))
            self._alert_of.update(dict.fromkeys(state.alerts, family))

    def _moved(self, family: str, effects: Sequence[Effect]) -> None:
        """A booking or alert saved under ``family`` leaves the state of any other family that
        held it: its row, keyed by id, now belongs to ``family``."""
        for effect in effects:
            if isinstance(effect, BookingSaved):
                booking_id = effect.booking.booking_id
                held = self._booking_of.get(booking_id)
                if held is not None and held != family:
                    left = self._states[held]
                    bookings = {k: v for k, v in left.bookings.items() if k != booking_id}
                    self._states[held] = replace(left, bookings=bookings)
                self._booking_of[booking_id] = family
            elif isinstance(effect, AlertSaved):
                alert_id = effect.alert.alert_id
                held = self._alert_of.get(alert_id)
                if held is not None and held != family:
                    left = self._states[held]
                    alerts = {k: v for k, v in left.alerts.items() if k != alert_id}
                    self._states[held] = replace(left, alerts=alerts)
                self._alert_of[alert_id] = family

    def _flush(self) -> None:
        self._writes.flush(self._connection)
        record_batch(self._connection, self._changes)
        self._changes = []

    def _forget(self) -> None:
        self._states, self._booking_of, self._alert_of = {}, {}, {}
