"""SQL storage of the missed-appointment projection (SQLite by default, PostgreSQL by URL).

Each case-event is applied in one transaction that (1) checks the partition's stored log
position and skips an event already applied, (2) loads the person's state, (3) runs the pure
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

from sqlalchemy import (
    Column,
    Connection,
    Date,
    DateTime,
    Engine,
    String,
    Table,
    create_engine,
    delete,
    event,
    insert,
    select,
    update,
)

from hub.erasure.sealing import Erasure, LogEntry
from hub.events import Appointment, PractitionerRole
from hub.projections.missed_appointments import (
    PROJECTION,
    Alert,
    AlertRaised,
    AlertRouted,
    Effect,
    Midwife,
    MidwifeAssigned,
    Person,
    PersonState,
    PersonUpdated,
    empty_state,
    fold,
)
from hub.projections.positions import apply_at_position, metadata, next_offset

people = Table(
    "ma_people",
    metadata,
    Column("subject_key", String(250), primary_key=True),
    Column("nhs_number", String(10)),
    Column("given_name", String(200)),
    Column("family_name", String(200)),
    Column("birth_date", Date),
)

midwives = Table(
    "ma_midwives",
    metadata,
    Column("subject_key", String(250), primary_key=True),
    Column("practitioner_id", String(250), primary_key=True),
    Column("name", String(200), nullable=False),
    Column("role", String(50), nullable=False),
    Column("organisation_code", String(50), nullable=False),
    Column("contact", String(250)),
    Column("assigned_at", DateTime(timezone=True), nullable=False),
)

alerts = Table(
    "ma_alerts",
    metadata,
    Column("alert_id", String(36), primary_key=True),
    Column("subject_key", String(250), nullable=False, index=True),
    Column("appointment_id", String(250), nullable=False),
    Column("appointment_start", DateTime(timezone=True), nullable=False),
    Column("appointment_end", DateTime(timezone=True)),
    Column("service_type", String(100)),
    Column("description", String(500)),
    Column("location", String(250)),
    Column("missed_at", DateTime(timezone=True), nullable=False),
    Column("raised_at", DateTime(timezone=True), nullable=False),
    Column("source_system", String(100), nullable=False),
    Column("organisation_code", String(50), nullable=False),
    Column("source_event_id", String(36), nullable=False),
    Column("status", String(20), nullable=False),
)

alert_recipients = Table(
    "ma_alert_recipients",
    metadata,
    Column("alert_id", String(36), primary_key=True),
    Column("practitioner_id", String(250), primary_key=True, index=True),
)


@dataclass(frozen=True)
class AlertView:
    """An alert as its recipient reads it."""

    alert: Alert
    person: Person


def _utc(value: datetime) -> datetime:
    """SQLite returns naive datetimes; every time in the hub is UTC."""
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def make_engine(url: str) -> Engine:
    engine = create_engine(url, pool_pre_ping=True)
    if engine.dialect.name == "sqlite":

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")  # API reads while the worker writes
            cursor.execute("PRAGMA busy_timeout=5000")
            cursor.close()

    return engine


class MissedAppointmentStore:
    """The projection's tables, written only through :meth:`apply`."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    @property
    def engine(self) -> Engine:
        return self._engine

    def create_schema(self) -> None:
        metadata.create_all(self._engine)

    def next_offset(self, topic: str, partition: int) -> int | None:
        with self._engine.connect() as connection:
            return next_offset(connection, PROJECTION, topic, partition)

    def apply(self, topic: str, partition: int, offset: int, event: LogEntry | None) -> bool:
        """Apply one log entry (``None``: dead-lettered or erased, only the position moves).

        Returns False when the entry had already been applied.
        """
        if event is None:
            return apply_at_position(self._engine, PROJECTION, topic, partition, offset, None)

        def write(connection: Connection) -> None:
            if isinstance(event, Erasure):
                _erase(connection, event.subjects)
                return
            _, effects = fold(_load_state(connection, event.subject_key()), event)
            _write(connection, effects)

        return apply_at_position(self._engine, PROJECTION, topic, partition, offset, write)

    def open_alerts_for(self, practitioner_id: str) -> list[AlertView]:
        """Open alerts addressed to one practitioner, oldest appointment first."""
        return self._alert_views(
            alert_recipients.c.practitioner_id == practitioner_id, join_recipients=True
        )

    def alerts_about(self, key: str) -> list[AlertView]:
        """Every alert about one person, oldest appointment first."""
        return self._alert_views(alerts.c.subject_key == key, join_recipients=False)

    def _alert_views(self, condition: Any, *, join_recipients: bool) -> list[AlertView]:
        query = (
            select(
                alerts,
                people.c.nhs_number,
                people.c.given_name,
                people.c.family_name,
                people.c.birth_date,
            )
            .outerjoin(people, people.c.subject_key == alerts.c.subject_key)
            .where(condition)
            .order_by(alerts.c.appointment_start, alerts.c.alert_id)
        )
        if join_recipients:
            query = query.join(
                alert_recipients, alert_recipients.c.alert_id == alerts.c.alert_id
            ).where(alerts.c.status == "OPEN")
        with self._engine.connect() as connection:
            rows = connection.execute(query).mappings().all()
            views = []
            for row in rows:
                recipients = _recipients(connection, row["alert_id"])
                person = _person(row, row["subject_key"])
                views.append(AlertView(alert=_alert(row, recipients), person=person))
        return views


def _load_state(connection: Connection, key: str) -> PersonState:
    state = empty_state(key)
    row = connection.execute(select(people).where(people.c.subject_key == key)).mappings().first()
    person = _person(row, key) if row is not None else state.person
    midwife_rows = connection.execute(select(midwives).where(midwives.c.subject_key == key))
    loaded_midwives = {
        m.practitioner_id: Midwife(
            practitioner_id=m.practitioner_id,
            name=m.name,
            role=PractitionerRole(m.role),
            organisation_code=m.organisation_code,
            contact=m.contact,
            assigned_at=_utc(m.assigned_at),
        )
        for m in midwife_rows
    }
    alert_rows = connection.execute(select(alerts).where(alerts.c.subject_key == key)).mappings()
    loaded_alerts = {}
    for a in alert_rows.all():
        alert = _alert(a, _recipients(connection, a["alert_id"]))
        loaded_alerts[alert.alert_id] = alert
    return PersonState(person=person, midwives=loaded_midwives, alerts=loaded_alerts)


def _recipients(connection: Connection, alert_id: str) -> frozenset[str]:
    rows = connection.execute(
        select(alert_recipients.c.practitioner_id).where(alert_recipients.c.alert_id == alert_id)
    )
    return frozenset(rows.scalars())


def _person(row: Any, key: str) -> Person:
    return Person(
        subject_key=key,
        nhs_number=row["nhs_number"],
        given_name=row["given_name"],
        family_name=row["family_name"],
        birth_date=row["birth_date"],
    )


def _alert(row: Any, recipients: frozenset[str]) -> Alert:
    return Alert(
        alert_id=uuid.UUID(row["alert_id"]),
        subject_key=row["subject_key"],
        appointment=Appointment(
            appointment_id=row["appointment_id"],
            start=_utc(row["appointment_start"]),
            end=_utc(row["appointment_end"]) if row["appointment_end"] else None,
            service_type=row["service_type"],
            description=row["description"],
            location=row["location"],
        ),
        missed_at=_utc(row["missed_at"]),
        raised_at=_utc(row["raised_at"]),
        source_system=row["source_system"],
        organisation_code=row["organisation_code"],
        source_event_id=uuid.UUID(row["source_event_id"]),
        recipients=recipients,
        status=row["status"],
    )


def _write(connection: Connection, effects: Sequence[Effect]) -> None:
    for effect in effects:
        if isinstance(effect, PersonUpdated):
            _upsert_person(connection, effect.person)
        elif isinstance(effect, MidwifeAssigned):
            _upsert_midwife(connection, effect.subject_key, effect.midwife)
        elif isinstance(effect, AlertRaised):
            _insert_alert(connection, effect.alert)
        else:
            _route(connection, effect)


def _upsert_person(connection: Connection, person: Person) -> None:
    values = {
        "nhs_number": person.nhs_number,
        "given_name": person.given_name,
        "family_name": person.family_name,
        "birth_date": person.birth_date,
    }
    changed = connection.execute(
        update(people).where(people.c.subject_key == person.subject_key).values(**values)
    )
    if changed.rowcount == 0:
        connection.execute(insert(people).values(subject_key=person.subject_key, **values))


def _upsert_midwife(connection: Connection, key: str, midwife: Midwife) -> None:
    values = {
        "name": midwife.name,
        "role": midwife.role.value,
        "organisation_code": midwife.organisation_code,
        "contact": midwife.contact,
        "assigned_at": midwife.assigned_at,
    }
    changed = connection.execute(
        update(midwives)
        .where(midwives.c.subject_key == key)
        .where(midwives.c.practitioner_id == midwife.practitioner_id)
        .values(**values)
    )
    if changed.rowcount == 0:
        connection.execute(
            insert(midwives).values(
                subject_key=key, practitioner_id=midwife.practitioner_id, **values
            )
        )


def _insert_alert(connection: Connection, alert: Alert) -> None:
    appointment = alert.appointment
    connection.execute(
        insert(alerts).values(
            alert_id=str(alert.alert_id),
            subject_key=alert.subject_key,
            appointment_id=appointment.appointment_id,
            appointment_start=appointment.start,
            appointment_end=appointment.end,
            service_type=appointment.service_type,
            description=appointment.description,
            location=appointment.location,
            missed_at=alert.missed_at,
            raised_at=alert.raised_at,
            source_system=alert.source_system,
            organisation_code=alert.organisation_code,
            source_event_id=str(alert.source_event_id),
            status=alert.status,
        )
    )
    for practitioner_id in sorted(alert.recipients):
        _route(connection, AlertRouted(alert.alert_id, practitioner_id))


def _route(connection: Connection, effect: AlertRouted) -> None:
    connection.execute(
        insert(alert_recipients).values(
            alert_id=str(effect.alert_id), practitioner_id=effect.practitioner_id
        )
    )


def _erase(connection: Connection, subjects: Sequence[str]) -> None:
    """Delete everything the projection holds about erased subjects."""
    erased = alerts.c.subject_key.in_(subjects)
    connection.execute(
        delete(alert_recipients).where(
            alert_recipients.c.alert_id.in_(select(alerts.c.alert_id).where(erased))
        )
    )
    connection.execute(delete(alerts).where(erased))
    connection.execute(delete(midwives).where(midwives.c.subject_key.in_(subjects)))
    connection.execute(delete(people).where(people.c.subject_key.in_(subjects)))
