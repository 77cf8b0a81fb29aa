"""The alerts projection's rows: a family's state read from them, effects written to them.

Split from :mod:`hub.alerts.store` so that the store holds the transaction and the batch, and
this module the SQL of one batch (issue 19): the states of every family a batch touches read in
one query per table (:func:`load_states`), and a batch's effects written with one statement per
table (:class:`EffectWrites`) rather than one per row.

A family's rows are read again by every batch that touches it, and most of them have not
changed since the last: the JSON columns of a booking and an alert (the appointment, the
subject's identifiers) were most of a load's time, parsed afresh each time. The worker's store
parses them through :class:`JsonColumns`, which keeps each text's parsed value (ADR 0050).

Times are written in UTC. SQLite keeps a ``DateTime`` as the wall time without its offset, so
an event at 10:00+01:00 came back as 10:00 UTC, an hour out; the batch folds many events of a
family on the state in memory, which holds the true instant, so the rows must hold it too for a
batch to decide exactly what one entry at a time decides (ADR 0026).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable, Sequence
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any, Final

from pydantic import TypeAdapter
from sqlalchemy import Connection, delete, select

from hub.alerts.state import (
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
    TeamMember,
)
from hub.alerts.tables import AlertTables
from hub.payloads import Appointment, PersonIdentifier, Source
from hub.practitioners import PractitionerRef, sort_key
from hub.storage.among import among
from hub.storage.bulk import delete_rows, insert_rows, upsert_many
from hub.storage.positions import chunks
from hub.vocabulary import PractitionerRole

_SUBJECT = TypeAdapter(tuple[PersonIdentifier, ...])
PARSED_TEXTS: Final = 1 << 14  # of each column, at most: a few thousand families' rows


class JsonColumns:
    """The JSON columns of booking and alert rows, parsed: with ``keep`` texts of each column
    kept with their parsed values (least recently used dropped first), ``keep=0`` none.

    Only the answer's speed depends on it: a text is parsed to the same immutable value
    (frozen models in a tuple) every time, and a row's text is what it is looked up by, so
    what a row no longer holds is never given back. What is kept names people, so
    :meth:`forget` drops it all when the process learns of an erasure (the key store's
    ``when_erased``, as the sharing facts' cache)."""

    def __init__(self, keep: int = PARSED_TEXTS) -> None:
        appointment = lru_cache(maxsize=keep)(Appointment.model_validate_json)
        subject = lru_cache(maxsize=keep)(_SUBJECT.validate_json)
        self._memos = (appointment, subject) if keep else ()
        # keep=0 (the API's reads) parses directly, not through a memo that keeps nothing.
        self.appointment: Callable[[str], Appointment] = (
            appointment if keep else Appointment.model_validate_json
        )
        self.subject: Callable[[str], tuple[PersonIdentifier, ...]] = (
            subject if keep else _SUBJECT.validate_json
        )

    @property
    def held(self) -> int:
        """How many texts are kept now (to look at)."""
        return sum(memo.cache_info().currsize for memo in self._memos)

    def forget(self) -> None:
        for memo in self._memos:
            memo.cache_clear()


PARSED_AFRESH: Final = JsonColumns(keep=0)  # for reads: nothing kept


def utc(value: datetime) -> datetime:
    """SQLite returns naive datetimes; every time in the hub is UTC."""
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def _maybe_utc(value: datetime | None) -> datetime | None:
    return None if value is None else utc(value)


def _stored(value: datetime | None) -> datetime | None:
    """A time as a row keeps it: in UTC (the module's docstring)."""
    return None if value is None else value.astimezone(UTC)


def load_states(
    connection: Connection,
    t: AlertTables,
    family_keys: Iterable[str],
    columns: JsonColumns = PARSED_AFRESH,
) -> dict[str, FamilyState]:
    """What the fold starts from for each family (an empty state for a family with no rows):
    one query per table for all of them (in chunks of the IN list)."""
    keys = sorted(set(family_keys))
    people: dict[str, dict[str, Person]] = {key: {} for key in keys}
    team: dict[str, dict[tuple[str, PractitionerRef], TeamMember]] = {key: {} for key in keys}
    bookings: dict[str, dict[uuid.UUID, Booking]] = {key: {} for key in keys}
    alerts: dict[str, dict[uuid.UUID, Alert]] = {key: {} for key in keys}
    for chunk in chunks(keys):
        for row in connection.execute(
            select(t.people).where(among(connection, t.people.c.group_key, chunk))
        ).mappings():
            people[row["group_key"]][row["subject_key"]] = person_of(row, row["subject_key"])
        for row in connection.execute(
            select(t.team).where(among(connection, t.team.c.group_key, chunk))
        ).mappings():
            member = _member(row)
            team[row["group_key"]][(member.subject_key, member.ref)] = member
        for row in connection.execute(
            select(t.bookings).where(among(connection, t.bookings.c.group_key, chunk))
        ).mappings():
            booking = booking_of(row, columns)
            bookings[row["group_key"]][booking.booking_id] = booking
        rows = (
            connection.execute(
                select(t.alerts).where(among(connection, t.alerts.c.group_key, chunk))
            )
            .mappings()
            .all()
        )
        for row, alert in zip(rows, alerts_of(connection, t, rows, columns), strict=True):
            alerts[row["group_key"]][alert.alert_id] = alert
    return {
        key: FamilyState(
            family_key=key,
            people=people[key],
            team=team[key],
            bookings=bookings[key],
            alerts=alerts[key],
        )
        for key in keys
    }


def alerts_of(
    connection: Connection,
    t: AlertTables,
    rows: Sequence[Any],
    columns: JsonColumns = PARSED_AFRESH,
) -> list[Alert]:
    """Alert rows with their recipients, read in one query for all of them."""
    routed = _recipients(connection, t, [row["alert_id"] for row in rows])
    none: tuple[frozenset[PractitionerRef], frozenset[PractitionerRef]] = (frozenset(), frozenset())
    return [_alert(row, columns, *routed.get(row["alert_id"], none)) for row in rows]


def _recipients(
    connection: Connection, t: AlertTables, alert_ids: Sequence[str]
) -> dict[str, tuple[frozenset[PractitionerRef], frozenset[PractitionerRef]]]:
    """Per alert: (routine recipients, escalation recipients)."""
    found: dict[str, tuple[set[PractitionerRef], set[PractitionerRef]]] = {}
    for chunk in chunks(alert_ids):
        rows = connection.execute(
            select(t.recipients).where(among(connection, t.recipients.c.alert_id, chunk))
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


def person_of(row: Any, key: str) -> Person:
    return Person(
        subject_key=key,
        nhs_number=row["nhs_number"],
        given_name=row["given_name"],
        family_name=row["family_name"],
        birth_date=row["birth_date"],
        language=row["language"],
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
        assigned_at=utc(row["assigned_at"]),
    )


def booking_of(row: Any, columns: JsonColumns = PARSED_AFRESH) -> Booking:
    return Booking(
        booking_id=uuid.UUID(row["booking_id"]),
        subject_key=row["subject_key"],
        subject=columns.subject(row["subject"]),
        source=Source(system=row["source_system"], organisation_code=row["organisation_code"]),
        appointment=columns.appointment(row["appointment"]),
        due_at=utc(row["due_at"]),
        outcome=AppointmentOutcome(row["outcome"]) if row["outcome"] else None,
    )


def _alert(
    row: Any,
    columns: JsonColumns,
    recipients: frozenset[PractitionerRef],
    escalated_to: frozenset[PractitionerRef],
) -> Alert:
    return Alert(
        alert_id=uuid.UUID(row["alert_id"]),
        subject_key=row["subject_key"],
        subject=columns.subject(row["subject"]),
        appointment=columns.appointment(row["appointment"]),
        missed_at=utc(row["missed_at"]),
        raised_at=utc(row["raised_at"]),
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


_DELETE = None  # a team row's last write in a batch was its deletion


class EffectWrites:
    """A batch's effects, the last write of each row kept, written with one statement per table.

    Rows are keyed by their primary key, so the last write of a key is the row the effects in
    order leave: a later upsert replaces an earlier one, an unassignment after an assignment
    deletes it (and the reverse). An alert's recipients are rewritten with the alert."""

    def __init__(self, t: AlertTables) -> None:
        self._t = t
        self._people: dict[tuple[str, str], dict[str, Any]] = {}
        self._team: dict[tuple[str, str, str, str], dict[str, Any] | None] = {}
        # bookings and alerts keep their last effect, made rows at the flush: a rebuild saves
        # each alert three times in a batch (raised, acknowledged, closed), one row is written
        self._bookings: dict[uuid.UUID, BookingSaved] = {}
        self._alerts: dict[uuid.UUID, AlertSaved] = {}

    def __bool__(self) -> bool:
        return bool(self._people or self._team or self._bookings or self._alerts)

    def add(self, effects: Sequence[Effect]) -> None:
        for effect in effects:
            if isinstance(effect, PersonUpdated):
                person = effect.person
                self._people[(effect.family_key, person.subject_key)] = {
                    "group_key": effect.family_key,
                    "subject_key": person.subject_key,
                    "nhs_number": person.nhs_number,
                    "given_name": person.given_name,
                    "family_name": person.family_name,
                    "birth_date": person.birth_date,
                    "language": person.language,
                }
            elif isinstance(effect, MemberAssigned):
                member = effect.member
                slot = (
                    effect.family_key,
                    member.subject_key,
                    member.organisation_code,
                    member.practitioner_id,
                )
                self._team[slot] = {
                    "group_key": effect.family_key,
                    "subject_key": member.subject_key,
                    "organisation_code": member.organisation_code,
                    "practitioner_id": member.practitioner_id,
                    "name": member.name,
                    "role": member.role.value,
                    "contact": member.contact,
                    "assigned_at": _stored(member.assigned_at),
                }
            elif isinstance(effect, MemberUnassigned):
                who = effect.practitioner
                slot = (
                    effect.family_key,
                    effect.subject_key,
                    who.organisation_code,
                    who.practitioner_id,
                )
                self._team[slot] = _DELETE
            elif isinstance(effect, BookingSaved):
                self._bookings[effect.booking.booking_id] = effect
            else:
                self._alerts[effect.alert.alert_id] = effect

    def flush(self, connection: Connection) -> None:
        """Write what was added, and forget it."""
        t = self._t
        upsert_many(connection, t.people, ("group_key", "subject_key"), self._people.values())
        delete_rows(
            connection,
            t.team,
            [
                {"group_key": g, "subject_key": s, "organisation_code": o, "practitioner_id": p}
                for (g, s, o, p), row in self._team.items()
                if row is _DELETE
            ],
        )
        upsert_many(
            connection,
            t.team,
            ("group_key", "subject_key", "organisation_code", "practitioner_id"),
            [row for row in self._team.values() if row is not None],
        )
        bookings = [_booking_row(e.family_key, e.booking) for e in self._bookings.values()]
        upsert_many(connection, t.bookings, ("booking_id",), bookings)
        alerts = [_alert_rows(effect) for effect in self._alerts.values()]
        upsert_many(connection, t.alerts, ("alert_id",), [a for a, _ in alerts])
        for chunk in chunks([a["alert_id"] for a, _ in alerts]):
            connection.execute(
                delete(t.recipients).where(among(connection, t.recipients.c.alert_id, chunk))
            )
        insert_rows(connection, t.recipients, [row for _, rows in alerts for row in rows])
        self._people, self._team, self._bookings, self._alerts = {}, {}, {}, {}


def _booking_row(family_key: str, booking: Booking) -> dict[str, Any]:
    return {
        "booking_id": str(booking.booking_id),
        "group_key": family_key,
        "subject_key": booking.subject_key,
        "subject": _SUBJECT.dump_json(booking.subject).decode(),
        "source_system": booking.source.system,
        "organisation_code": booking.source.organisation_code,
        "appointment": booking.appointment.model_dump_json(),
        "due_at": _stored(booking.due_at),
        "outcome": booking.outcome.value if booking.outcome else None,
    }


def _alert_rows(effect: AlertSaved) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """The alert's row and its recipients' rows."""
    alert = effect.alert
    alert_id = str(alert.alert_id)
    row = {
        "alert_id": alert_id,
        "group_key": effect.family_key,
        "subject_key": alert.subject_key,
        "subject": _SUBJECT.dump_json(alert.subject).decode(),
        "appointment": alert.appointment.model_dump_json(),
        "appointment_start": _stored(alert.appointment.start),
        "missed_at": _stored(alert.missed_at),
        "raised_at": _stored(alert.raised_at),
        "source_system": alert.source_system,
        "organisation_code": alert.organisation_code,
        "source_event_id": str(alert.source_event_id),
        "inferred": alert.inferred,
        "status": alert.status.value,
        "escalated_at": _stored(alert.escalated_at),
        "escalation_reason": alert.escalation_reason,
        **_by("acknowledged_by", alert.acknowledged_by),
        "acknowledged_at": _stored(alert.acknowledged_at),
        **_by("closed_by", alert.closed_by),
        "closed_at": _stored(alert.closed_at),
        "close_reason": alert.close_reason,
    }
    recipients = [
        {
            "alert_id": alert_id,
            "organisation_code": p.organisation_code,
            "practitioner_id": p.practitioner_id,
            "routine": p in alert.recipients,
            "escalation": p in alert.escalated_to,
        }
        for p in sorted(alert.addressed_to(), key=sort_key)
    ]
    return row, recipients


def _by(column: str, who: PractitionerRef | None) -> dict[str, str | None]:
    """A practitioner's two columns, ``<column>_organisation`` and ``<column>``."""
    return {
        f"{column}_organisation": who.organisation_code if who else None,
        column: who.practitioner_id if who else None,
    }


def erase(
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
