"""SQL storage of the missed-appointment alerts (SQLite by default, PostgreSQL by URL).

Each log entry is applied in one transaction that (1) checks the partition's stored log
position and skips an entry already applied, (2) loads the family's state, (3) runs the pure
fold, (4) writes its effects and (5) the new log position. At-least-once delivery from Kafka
therefore has exactly-once effects here, and a crash between Kafka's offset commit and ours
costs only re-reading a few events.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from pydantic import TypeAdapter
from sqlalchemy import (
    Connection,
    Engine,
    delete,
    insert,
    select,
)
from sqlalchemy.sql.elements import ColumnElement

from hub.alerts.changes import feed, record_changes, record_erasures
from hub.alerts.fold import (
    PROJECTION,
    Alert,
    AlertSaved,
    AlertStatus,
    AppointmentOutcome,
    Booking,
    BookingSaved,
    Effect,
    FamilyState,
    MemberAssigned,
    MemberUnassigned,
    Person,
    PersonUpdated,
    Rules,
    TeamMember,
    fold,
)
from hub.alerts.tables import AlertTables, alert_metadata, alert_tables
from hub.erasure.sealing import Erasure, LogEntry
from hub.events import Appointment, PersonIdentifier, PractitionerRole, Source
from hub.practitioners import PractitionerRef, sort_key
from hub.storage.positions import apply_at_position, next_offset, positions, upsert
from hub.storage.schema import create_tables, require_current

_SUBJECT = TypeAdapter(tuple[PersonIdentifier, ...])

LIVE = alert_tables(alert_metadata)
people, team, bookings, alerts, alert_recipients = LIVE


@dataclass(frozen=True)
class AlertView:
    """An alert as its recipient reads it."""

    alert: Alert
    person: Person


def _utc(value: datetime) -> datetime:
    """SQLite returns naive datetimes; every time in the hub is UTC."""
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def _maybe_utc(value: datetime | None) -> datetime | None:
    return None if value is None else _utc(value)


class MissedAppointmentStore:
    """The projection's tables, written only through :meth:`apply`."""

    def __init__(
        self,
        engine: Engine,
        rules: Rules | None = None,
        *,
        tables: AlertTables = LIVE,
        projection: str = PROJECTION,
        change_feed: bool = True,
    ) -> None:
        """``tables`` and ``projection`` (its name in the log positions) choose a generation:
        the live one unless ``hub replay`` builds another (ADR 0015). ``change_feed``: append
        alert changes to :mod:`hub.alerts.changes`; never for a rebuilt generation, which
        re-derives state without re-announcing it."""
        self._engine = engine
        self._rules = rules or Rules()
        self._t = tables
        self._projection = projection
        self._change_feed = change_feed and tables is LIVE

    @property
    def engine(self) -> Engine:
        return self._engine

    def create_schema(self) -> None:
        """This generation's tables, the change feed and the log positions: named here, so
        they are made whatever else the process has imported."""
        create_tables(self._engine, positions, feed, *self._t)
        require_current(self._engine, self._t, rebuild_with=f"hub replay {self._projection}")

    def next_offset(self, topic: str, partition: int) -> int | None:
        with self._engine.connect() as connection:
            return next_offset(connection, self._projection, topic, partition)

    def apply(
        self,
        topic: str,
        partition: int,
        offset: int,
        event: LogEntry | None,
        key: bytes | None = None,
    ) -> bool:
        """Apply one log entry (``None``: dead-lettered or erased, only the position moves).

        ``key`` is the entry's Kafka key on the family topic, the family id (ADR 0010); without
        one (a direct call) the event's subject stands alone. False when already applied.
        """
        if event is None:
            return apply_at_position(self._engine, self._projection, topic, partition, offset, None)

        def write(connection: Connection) -> None:
            if isinstance(event, Erasure):
                gone = _erase(connection, self._t, event.subjects)
                if self._change_feed:  # subscribers delete their copies (partner topics)
                    record_erasures(connection, gone, cause=f"{topic}/{partition}/{offset}")
                return
            family_key = key.decode("ascii") if key is not None else event.subject_key()
            _, effects = fold(_load_state(connection, self._t, family_key), event, self._rules)
            _write(connection, self._t, effects)
            if self._change_feed:
                record_changes(connection, effects, cause=f"{topic}/{partition}/{offset}")

        return apply_at_position(self._engine, self._projection, topic, partition, offset, write)

    # -- reads -----------------------------------------------------------------------------

    def state_of(self, family_key: str) -> FamilyState:
        """What the fold would start from for this family: the stored state, as it is."""
        with self._engine.connect() as connection:
            return _load_state(connection, self._t, family_key)

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
            return [_booking(row) for row in rows]

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
            found = _alerts(connection, self._t, rows)
            return [
                AlertView(alert=alert, person=_person(row, row["subject_key"]))
                for alert, row in zip(found, rows, strict=True)
            ]


def _load_state(connection: Connection, t: AlertTables, family_key: str) -> FamilyState:
    person_rows = connection.execute(select(t.people).where(t.people.c.group_key == family_key))
    members = connection.execute(select(t.team).where(t.team.c.group_key == family_key)).mappings()
    booking_rows = connection.execute(
        select(t.bookings).where(t.bookings.c.group_key == family_key)
    )
    alert_rows = connection.execute(
        select(t.alerts).where(t.alerts.c.group_key == family_key)
    ).mappings()
    return FamilyState(
        family_key=family_key,
        people={
            row["subject_key"]: _person(row, row["subject_key"]) for row in person_rows.mappings()
        },
        team={(m.subject_key, m.ref): m for m in map(_member, members)},
        bookings={b.booking_id: b for b in (_booking(row) for row in booking_rows.mappings())},
        alerts={a.alert_id: a for a in _alerts(connection, t, alert_rows.all())},
    )


def _alerts(connection: Connection, t: AlertTables, rows: Sequence[Any]) -> list[Alert]:
    """Alert rows with their recipients, read in one query for all of them."""
    routed = _recipients(connection, t, [row["alert_id"] for row in rows])
    none: tuple[frozenset[PractitionerRef], frozenset[PractitionerRef]] = (frozenset(), frozenset())
    return [_alert(row, *routed.get(row["alert_id"], none)) for row in rows]


def _recipients(
    connection: Connection, t: AlertTables, alert_ids: Sequence[str]
) -> dict[str, tuple[frozenset[PractitionerRef], frozenset[PractitionerRef]]]:
    """Per alert: (routine recipients, escalation recipients)."""
    found: dict[str, tuple[set[PractitionerRef], set[PractitionerRef]]] = {}
    if alert_ids:
        rows = connection.execute(
            select(t.recipients).where(t.recipients.c.alert_id.in_(alert_ids))
        )
        for row in rows.mappings():
            routine, escalation = found.setdefault(row["alert_id"], (set(), set()))
            who = _practitioner(row["organisation_code"], row["practitioner_id"])
            assert who is not None  # both columns are the primary key
            if row["routine"]:
                routine.add(who)
            if row["escalation"]:
                escalation.add(who)
    return {key: (frozenset(r), frozenset(e)) for key, (r, e) in found.items()}


def _person(row: Any, key: str) -> Person:
    return Person(
        subject_key=key,
        nhs_number=row["nhs_number"],
        given_name=row["given_name"],
        family_name=row["family_name"],
        birth_date=row["birth_date"],
    )


def _practitioner(
    organisation_code: str | None, practitioner_id: str | None
) -> PractitionerRef | None:
    if organisation_code is None or practitioner_id is None:
        return None
    return PractitionerRef(organisation_code=organisation_code, practitioner_id=practitioner_id)


def _member(row: Any) -> TeamMember:
    return TeamMember(
        subject_key=row["subject_key"],
        practitioner_id=row["practitioner_id"],
        name=row["name"],
        role=PractitionerRole(row["role"]),
        organisation_code=row["organisation_code"],
        contact=row["contact"],
        assigned_at=_utc(row["assigned_at"]),
    )


def _booking(row: Any) -> Booking:
    return Booking(
        booking_id=uuid.UUID(row["booking_id"]),
        subject_key=row["subject_key"],
        subject=_SUBJECT.validate_json(row["subject"]),
        source=Source(system=row["source_system"], organisation_code=row["organisation_code"]),
        appointment=Appointment.model_validate_json(row["appointment"]),
        due_at=_utc(row["due_at"]),
        outcome=AppointmentOutcome(row["outcome"]) if row["outcome"] else None,
    )


def _alert(
    row: Any, recipients: frozenset[PractitionerRef], escalated_to: frozenset[PractitionerRef]
) -> Alert:
    return Alert(
        alert_id=uuid.UUID(row["alert_id"]),
        subject_key=row["subject_key"],
        subject=_SUBJECT.validate_json(row["subject"]),
        appointment=Appointment.model_validate_json(row["appointment"]),
        missed_at=_utc(row["missed_at"]),
        raised_at=_utc(row["raised_at"]),
        source_system=row["source_system"],
        organisation_code=row["organisation_code"],
        source_event_id=uuid.UUID(row["source_event_id"]),
        inferred=bool(row["inferred"]),
        recipients=recipients,
        escalated_to=escalated_to,
        escalated_at=_maybe_utc(row["escalated_at"]),
        escalation_reason=row["escalation_reason"],
        status=AlertStatus(row["status"]),
        acknowledged_by=_practitioner(row["acknowledged_by_organisation"], row["acknowledged_by"]),
        acknowledged_at=_maybe_utc(row["acknowledged_at"]),
        closed_by=_practitioner(row["closed_by_organisation"], row["closed_by"]),
        closed_at=_maybe_utc(row["closed_at"]),
        close_reason=row["close_reason"],
    )


def _write(connection: Connection, t: AlertTables, effects: Sequence[Effect]) -> None:
    for effect in effects:
        if isinstance(effect, PersonUpdated):
            person = effect.person
            upsert(
                connection,
                t.people,
                {"group_key": effect.family_key, "subject_key": person.subject_key},
                {
                    "nhs_number": person.nhs_number,
                    "given_name": person.given_name,
                    "family_name": person.family_name,
                    "birth_date": person.birth_date,
                },
            )
        elif isinstance(effect, MemberAssigned):
            member = effect.member
            upsert(
                connection,
                t.team,
                {
                    "group_key": effect.family_key,
                    "subject_key": member.subject_key,
                    "organisation_code": member.organisation_code,
                    "practitioner_id": member.practitioner_id,
                },
                {
                    "name": member.name,
                    "role": member.role.value,
                    "contact": member.contact,
                    "assigned_at": member.assigned_at,
                },
            )
        elif isinstance(effect, MemberUnassigned):
            team = t.team.c
            connection.execute(
                delete(t.team).where(
                    (team.group_key == effect.family_key)
                    & (team.subject_key == effect.subject_key)
                    & (team.organisation_code == effect.practitioner.organisation_code)
                    & (team.practitioner_id == effect.practitioner.practitioner_id)
                )
            )
        elif isinstance(effect, BookingSaved):
            _save_booking(connection, t, effect.family_key, effect.booking)
        else:
            _save_alert(connection, t, effect)


def _save_booking(
    connection: Connection, t: AlertTables, family_key: str, booking: Booking
) -> None:
    upsert(
        connection,
        t.bookings,
        {"booking_id": str(booking.booking_id)},
        {
            "group_key": family_key,
            "subject_key": booking.subject_key,
            "subject": _SUBJECT.dump_json(booking.subject).decode(),
            "source_system": booking.source.system,
            "organisation_code": booking.source.organisation_code,
            "appointment": booking.appointment.model_dump_json(),
            "due_at": booking.due_at,
            "outcome": booking.outcome.value if booking.outcome else None,
        },
    )


def _save_alert(connection: Connection, t: AlertTables, effect: AlertSaved) -> None:
    alert = effect.alert
    alert_id = str(alert.alert_id)
    upsert(
        connection,
        t.alerts,
        {"alert_id": alert_id},
        {
            "group_key": effect.family_key,
            "subject_key": alert.subject_key,
            "subject": _SUBJECT.dump_json(alert.subject).decode(),
            "appointment": alert.appointment.model_dump_json(),
            "appointment_start": alert.appointment.start,
            "missed_at": alert.missed_at,
            "raised_at": alert.raised_at,
            "source_system": alert.source_system,
            "organisation_code": alert.organisation_code,
            "source_event_id": str(alert.source_event_id),
            "inferred": alert.inferred,
            "status": alert.status.value,
            "escalated_at": alert.escalated_at,
            "escalation_reason": alert.escalation_reason,
            **_by("acknowledged_by", alert.acknowledged_by),
            "acknowledged_at": alert.acknowledged_at,
            **_by("closed_by", alert.closed_by),
            "closed_at": alert.closed_at,
            "close_reason": alert.close_reason,
        },
    )
    connection.execute(delete(t.recipients).where(t.recipients.c.alert_id == alert_id))
    rows = [
        {
            "alert_id": alert_id,
            "organisation_code": p.organisation_code,
            "practitioner_id": p.practitioner_id,
            "routine": p in alert.recipients,
            "escalation": p in alert.escalated_to,
        }
        for p in sorted(alert.addressed_to(), key=sort_key)
    ]
    if rows:
        connection.execute(insert(t.recipients), rows)


def _by(column: str, who: PractitionerRef | None) -> dict[str, str | None]:
    """A practitioner's two columns, ``<column>_organisation`` and ``<column>``."""
    return {
        f"{column}_organisation": who.organisation_code if who else None,
        column: who.practitioner_id if who else None,
    }


def _erase(
    connection: Connection, t: AlertTables, subjects: Sequence[str]
) -> list[tuple[uuid.UUID, str]]:
    """Delete everything the projection holds about erased subjects; the alerts deleted (id,
    family)."""
    erased = t.alerts.c.subject_key.in_(subjects)
    gone = connection.execute(select(t.alerts.c.alert_id, t.alerts.c.group_key).where(erased)).all()
    connection.execute(
        delete(t.recipients).where(
            t.recipients.c.alert_id.in_(select(t.alerts.c.alert_id).where(erased))
        )
    )
    connection.execute(delete(t.alerts).where(erased))
    for table in (t.bookings, t.team, t.people):
        connection.execute(delete(table).where(table.c.subject_key.in_(subjects)))
    return [(uuid.UUID(row.alert_id), row.group_key) for row in gone]
