"""Log positions stored in the same transaction as a projection's data (ADR 0004).

Every SQL projection applies a log entry through :func:`apply_at_position`: the stored position
is checked (an entry already applied is skipped), the projection writes its rows, and the new
position is saved — all in one transaction, so at-least-once delivery has exactly-once effects.
The positions table is on :data:`positions_metadata` alone: each store that keeps positions
creates it with its own tables (``create_tables(engine, positions, ...)``), so no store's schema
depends on which other modules happen to be imported. :func:`upsert` is the stores' shared keyed
write.

The position is read ``FOR UPDATE`` (a row lock on PostgreSQL; SQLite's single writer already
serialises), so ``hub replay``'s swap (ADR 0015), which takes the same row locks first, never
races an apply that read the position of the generation it replaces.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlalchemy import (
    BigInteger,
    Column,
    Connection,
    Engine,
    Integer,
    MetaData,
    String,
    Table,
    insert,
    select,
    update,
)
from sqlalchemy.exc import IntegrityError

positions_metadata = MetaData()

positions = Table(
    "projection_positions",
    positions_metadata,
    Column("projection", String(100), primary_key=True),
    Column("topic", String(250), primary_key=True),
    Column("partition", Integer, primary_key=True),
    Column("next_offset", BigInteger, nullable=False),
)


def next_offset(
    connection: Connection,
    projection: str,
    topic: str,
    partition: int,
    *,
    for_update: bool = False,
) -> int | None:
    query = select(positions.c.next_offset).where(
        positions.c.projection == projection,
        positions.c.topic == topic,
        positions.c.partition == partition,
    )
    row = connection.execute(query.with_for_update() if for_update else query).scalar_one_or_none()
    return None if row is None else int(row)


def positions_of(connection: Connection, projection: str) -> dict[tuple[str, int], int]:
    """Every ``(topic, partition)`` a projection has a position in, with its next offset."""
    rows = connection.execute(
        select(positions.c.topic, positions.c.partition, positions.c.next_offset).where(
            positions.c.projection == projection
        )
    )
    return {(topic, int(partition)): int(offset) for topic, partition, offset in rows}


def apply_at_position(
    engine: Engine,
    projection: str,
    topic: str,
    partition: int,
    offset: int,
    write: Callable[[Connection], None] | None,
) -> bool:
    """Run ``write`` and move the position past ``offset`` atomically; False if already applied.

    ``write`` is None for an entry that was dead-lettered: only the position moves.
    """
    try:
        return _apply_at_position(engine, projection, topic, partition, offset, write)
    except IntegrityError:
        # The partition's first position row was written meanwhile by someone else (a replay
        # swapping in its positions): nothing of ours was kept, so decide again from that row.
        return _apply_at_position(engine, projection, topic, partition, offset, write)


def _apply_at_position(
    engine: Engine,
    projection: str,
    topic: str,
    partition: int,
    offset: int,
    write: Callable[[Connection], None] | None,
) -> bool:
    with engine.begin() as connection:
        stored = next_offset(connection, projection, topic, partition, for_update=True)
        if stored is not None and offset < stored:
            return False
        if write is not None:
            write(connection)
        if stored is None:
            connection.execute(
                insert(positions).values(
                    projection=projection, topic=topic, partition=partition, next_offset=offset + 1
                )
            )
        else:
            connection.execute(
                update(positions)
                .where(
                    (positions.c.projection == projection)
                    & (positions.c.topic == topic)
                    & (positions.c.partition == partition)
                )
                .values(next_offset=offset + 1)
            )
    return True


def upsert(
    connection: Connection, table: Table, keys: dict[str, Any], values: dict[str, Any]
) -> None:
    """Update the row ``keys`` names with ``values``, or insert it: the stores' one write of a
    keyed row, in the caller's transaction."""
    condition = [table.c[name] == value for name, value in keys.items()]
    if connection.execute(update(table).where(*condition).values(**values)).rowcount == 0:
        connection.execute(insert(table).values(**keys, **values))
