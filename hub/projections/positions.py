"""Log positions stored in the same transaction as a projection's data (ADR 0004).

Every SQL projection applies a log entry through :func:`apply_at_position`: the stored position
is checked (an entry already applied is skipped), the projection writes its rows, and the new
position is saved — all in one transaction, so at-least-once delivery has exactly-once effects.
All projection tables share :data:`metadata`, so one ``create_all`` makes the whole store.
"""

from __future__ import annotations

from collections.abc import Callable

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

metadata = MetaData()

positions = Table(
    "projection_positions",
    metadata,
    Column("projection", String(100), primary_key=True),
    Column("topic", String(250), primary_key=True),
    Column("partition", Integer, primary_key=True),
    Column("next_offset", BigInteger, nullable=False),
)


def next_offset(connection: Connection, projection: str, topic: str, partition: int) -> int | None:
    row = connection.execute(
        select(positions.c.next_offset).where(
            positions.c.projection == projection,
            positions.c.topic == topic,
            positions.c.partition == partition,
        )
    ).scalar_one_or_none()
    return None if row is None else int(row)


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
    with engine.begin() as connection:
        stored = next_offset(connection, projection, topic, partition)
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
