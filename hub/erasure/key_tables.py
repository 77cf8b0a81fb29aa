"""The key store's tables and the statements that need more than one line (ADR 0009, 0025).

Apart from :mod:`hub.erasure.keystore` so that the store reads as what it decides — cache,
batch, refuse — and this as how SQLite and PostgreSQL are asked. Secrets here are always
wrapped (ADR 0020); unwrapping is the store's.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any, Final

from sqlalchemy import (
    BigInteger,
    Column,
    Connection,
    DateTime,
    Engine,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    cast,
    insert,
    null,
    select,
    union_all,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError

from hub.storage.among import among

key_metadata = MetaData()

keys_table = Table(
    "subject_keys",
    key_metadata,
    Column("key_id", String(36), primary_key=True),
    Column("subject", String(300), index=True),
    Column("wrapped_secret", LargeBinary(80)),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("shredded_at", DateTime(timezone=True)),
)
# Identifiers still to be purged from the projections, per destroyed key, until the worker has
# applied that key's ``SubjectErased`` marker.
purges_table = Table(
    "erasure_purges",
    key_metadata,
    Column("key_id", String(36), primary_key=True),
    Column("subject", String(300), primary_key=True),
)
Index(
    "one_live_key_per_subject",
    keys_table.c.subject,
    unique=True,
    sqlite_where=keys_table.c.wrapped_secret.is_not(None),
    postgresql_where=keys_table.c.wrapped_secret.is_not(None),
)
# One row (id 1), absent until the first shred (epoch 0): how many shreds have committed. Its
# row lock orders concurrent shreds, so a process that reads epoch n sees every shred up to n.
epoch_table = Table(
    "erasure_epoch",
    key_metadata,
    Column("id", Integer, primary_key=True, autoincrement=False),
    Column("epoch", BigInteger, nullable=False),
)
# Subjects or key ids per statement: far under SQLite's and PostgreSQL's parameter limits.
CHUNK = 500


# Built once: every sealing batch reads the epoch (ADR 0025), and building the statement cost
# about as much as running it on SQLite (ADR 0046).
_READ_EPOCH: Final = select(epoch_table.c.epoch).where(epoch_table.c.id == 1)


def read_epoch(engine: Engine) -> int:
    with engine.connect() as connection:
        epoch = connection.execute(_READ_EPOCH).scalar()
    return int(epoch or 0)


def live_and_pending(
    engine: Engine, subjects: Sequence[str]
) -> tuple[dict[str, tuple[str, bytes]], set[str]]:
    """One query: the subjects' live keys (key id, wrapped secret), and which subjects an
    erasure is still purging — refused even with a live key (made in a race with the erasure)."""
    with engine.connect() as connection:
        keys = select(keys_table.c.subject, keys_table.c.key_id, keys_table.c.wrapped_secret).where(
            among(connection, keys_table.c.subject, subjects),
            keys_table.c.wrapped_secret.is_not(None),
        )
        purges = select(
            purges_table.c.subject, purges_table.c.key_id, cast(null(), LargeBinary)
        ).where(among(connection, purges_table.c.subject, subjects))
        rows = connection.execute(union_all(keys, purges)).all()
    pending = {row.subject for row in rows if row.wrapped_secret is None}
    live = {
        row.subject: (row.key_id, bytes(row.wrapped_secret))
        for row in rows
        if row.wrapped_secret is not None and row.subject not in pending
    }
    return live, pending


def insert_new_keys(engine: Engine, rows: list[dict[str, Any]]) -> set[str]:
    """Insert ``rows`` of :data:`keys_table` in one statement; the subjects whose row went in.

    A subject another process gave a live key first is skipped by the one-live-key index (``ON
    CONFLICT DO NOTHING``; PostgreSQL waits for that process's commit first), not an error that
    would undo the whole batch. Another database: all or nothing, and the caller reads again.
    """
    dialect = engine.dialect.name
    # Many parameter sets to one compiled statement: SQLAlchemy sends them as multi-row
    # INSERTs ("insertmanyvalues"), RETURNING what went in.
    with engine.begin() as connection:
        if dialect == "postgresql":
            pg = postgresql.insert(keys_table).on_conflict_do_nothing()
            return set(connection.execute(pg.returning(keys_table.c.subject), rows).scalars())
        if dialect == "sqlite":
            lite = sqlite.insert(keys_table).on_conflict_do_nothing()
            return set(connection.execute(lite.returning(keys_table.c.subject), rows).scalars())
    try:
        with engine.begin() as connection:
            connection.execute(insert(keys_table), rows)
    except IntegrityError:
        return set()
    return {row["subject"] for row in rows}


def wrapped_secrets(engine: Engine, key_ids: Sequence[str]) -> dict[str, bytes | None]:
    """Each held key id's wrapped secret, None once shredded; unknown ids are left out."""
    with engine.connect() as connection:
        rows = connection.execute(
            select(keys_table.c.key_id, keys_table.c.wrapped_secret).where(
                among(connection, keys_table.c.key_id, key_ids)
            )
        ).all()
    return {
        row.key_id: None if row.wrapped_secret is None else bytes(row.wrapped_secret)
        for row in rows
    }


def shred(connection: Connection, wanted: list[str], at: datetime) -> list[str]:
    """Destroy the keys of ``wanted`` and record their purges, the epoch bumped first: its row
    lock makes concurrent shreds commit in epoch order (SQLite: the write lock, at once)."""
    bumped = connection.execute(
        update(epoch_table).where(epoch_table.c.id == 1).values(epoch=epoch_table.c.epoch + 1)
    )
    if not bumped.rowcount:
        connection.execute(insert(epoch_table).values(id=1, epoch=1))
    destroyed = list(
        connection.execute(
            select(keys_table.c.key_id).where(keys_table.c.subject.in_(wanted))
        ).scalars()
    )
    connection.execute(
        update(keys_table)
        .where(keys_table.c.key_id.in_(destroyed))
        .values(wrapped_secret=None, subject=None, shredded_at=at)
    )
    pending = set(
        connection.execute(
            select(purges_table.c.key_id).where(purges_table.c.subject.in_(wanted))
        ).scalars()
    )
    if destroyed:
        connection.execute(
            insert(purges_table),
            [{"key_id": k, "subject": s} for k in destroyed for s in wanted],
        )
    return sorted(pending | set(destroyed))
