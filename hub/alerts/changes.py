"""The alerts' change feed: an outbox written in the projection's own transaction.

Every :class:`~hub.alerts.state.AlertSaved` effect (an alert raised, routed
to someone new, escalated, acknowledged, closed) appends one row here in the same transaction as
the alert's rows and the log position (ADR 0004), so a change is recorded exactly when the
alert changes: never lost between the projection and whoever pushes it, never recorded twice
when Kafka re-delivers an entry.

Subscribers — Standard Webhooks deliveries, Server-Sent Events, partner topics — read the feed
in ``seq`` order from their own cursor and fetch the alert *as it is now*, through the sharing
gate for *their* recipient at *that* moment: the row names what changed, never what to show.

``change_id`` is deterministic (the alert, the change and the log entry that caused it), so it
doubles as the idempotency key a receiver sees (the ``webhook-id`` header).

An erasure deletes an alert's rows here too and appends one ``erased`` change, which names
only the alert id and family key, so that subscribers holding a copy delete it.

A rebuilt projection (``hub replay``) does not write this feed: a replay re-derives state, it
does not re-announce history.

Readers move a cursor over ``seq``, so ``seq`` order must be commit order: a row that became
visible *after* a higher ``seq`` would be skipped for good. With several workers (one consumer
group, partitions shared) there are several writers. SQLite allows one writing transaction at a
time, so it holds; on PostgreSQL a sequence hands out numbers at insert, not at commit, so a
writer takes a lock on the feed (``SHARE ROW EXCLUSIVE``, which conflicts with itself but not
with readers) before it appends: writers of the feed commit one after another, in ``seq`` order.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import (
    BigInteger,
    Column,
    Connection,
    DateTime,
    Engine,
    Integer,
    String,
    Table,
    delete,
    select,
    text,
)

from hub.alerts.state import AlertSaved, Effect
from hub.alerts.tables import alert_metadata
from hub.events import utc_now
from hub.storage.bulk import insert_rows

feed = Table(
    "alert_changes",
    alert_metadata,
    Column(
        "seq",
        BigInteger().with_variant(Integer, "sqlite"),  # SQLite autoincrements INTEGER only
        primary_key=True,
        autoincrement=True,
    ),
    Column("change_id", String(64), nullable=False, unique=True),
    Column("alert_id", String(36), nullable=False),
    # the family key (Change.family_key); the column keeps its name: no migration
    Column("group_key", String(250), nullable=False, index=True),
    Column("change", String(20), nullable=False),
    Column("recorded_at", DateTime(timezone=True), nullable=False),
    # Never reuse a seq after rows are deleted (erasure): readers' cursors would skip new rows.
    sqlite_autoincrement=True,
)


@dataclass(frozen=True)
class Change:
    """One row of the feed: which alert of which family changed how, and in what order."""

    seq: int
    change_id: str
    alert_id: uuid.UUID
    family_key: str
    change: str
    recorded_at: datetime


def change_id(alert_id: uuid.UUID, change: str, cause: str) -> str:
    """Deterministic id of a change: the same alert, change and causing log entry, same id."""
    digest = hashlib.sha256(f"{alert_id}|{change}|{cause}".encode()).hexdigest()
    return f"chg_{digest[:40]}"


def record_changes(connection: Connection, effects: Sequence[Effect], *, cause: str) -> None:
    """Append the alert changes among ``effects``, in the caller's (the projection's)
    transaction; ``cause`` names the log entry that caused them (topic/partition/offset)."""
    record_batch(connection, [(effects, cause)])


def record_batch(connection: Connection, caused: Sequence[tuple[Sequence[Effect], str]]) -> None:
    """:func:`record_changes` for a batch's entries, in order, with one insert (issue 19)."""
    rows = [
        (e.alert.alert_id, e.family_key, e.change, cause)
        for effects, cause in caused
        for e in effects
        if isinstance(e, AlertSaved)
    ]
    _append(connection, rows)


ERASED = "erased"


def record_erasures(
    connection: Connection, gone: Sequence[tuple[uuid.UUID, str]], *, cause: str
) -> None:
    """Delete the erased alerts' rows and announce each with one ``erased`` row, so a
    subscriber holding a copy — a partner's compacted topic — can delete it too."""
    for alert_id, _ in gone:
        connection.execute(delete(feed).where(feed.c.alert_id == str(alert_id)))
    _append(connection, [(alert_id, family_key, ERASED, cause) for alert_id, family_key in gone])


def _append(connection: Connection, rows: Sequence[tuple[uuid.UUID, str, str, str]]) -> None:
    """Append (alert, family, change, cause) rows in their order: one statement, so ``seq``
    follows the list."""
    if not rows:
        return
    if connection.dialect.name == "postgresql":  # seq in commit order (docstring)
        connection.execute(text(f"LOCK TABLE {feed.name} IN SHARE ROW EXCLUSIVE MODE"))
    now = utc_now()  # when the hub knew: what the latency figures measure
    insert_rows(
        connection,
        feed,
        [
            {
                "change_id": change_id(alert_id, change, cause),
                "alert_id": str(alert_id),
                "group_key": family_key,
                "change": change,
                "recorded_at": now,
            }
            for alert_id, family_key, change, cause in rows
        ],
    )


def changes_after(engine: Engine, seq: int, limit: int = 500) -> list[Change]:
    """The feed after ``seq`` (0: from the start), oldest first, at most ``limit`` rows."""
    with engine.connect() as connection:
        rows = connection.execute(
            select(feed).where(feed.c.seq > seq).order_by(feed.c.seq).limit(limit)
        ).all()
    return [
        Change(
            seq=int(row.seq),
            change_id=row.change_id,
            alert_id=uuid.UUID(row.alert_id),
            family_key=row.group_key,
            change=row.change,
            recorded_at=_utc(row.recorded_at),
        )
        for row in rows
    ]


def last_seq(engine: Engine) -> int:
    """The newest ``seq`` (0 when the feed is empty): where a subscriber 'from now' starts."""
    with engine.connect() as connection:
        found = connection.execute(select(feed.c.seq).order_by(feed.c.seq.desc()).limit(1))
        return int(found.scalar_one_or_none() or 0)


def _utc(value: datetime) -> datetime:
    return value if value.tzinfo else value.replace(tzinfo=UTC)
