"""Generations of a projection's tables: a fresh one built beside the live one, then swapped in.

``hub replay`` (ADR 0015) builds a projection again from the start of the log into tables named
``<live name>__rebuild`` with its own log positions (under the projection name
``<projection>__rebuild`` in ``projection_positions``), then :func:`swap` puts them in place in
one transaction: the live tables are renamed away, the rebuilt ones renamed into their names,
the old ones dropped, and the live positions set to the rebuild's. SQLite and PostgreSQL both
run ``ALTER TABLE ... RENAME`` and ``DROP TABLE`` inside a transaction, so a reader sees the old
generation or the new one, never a mixture.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from typing import Final

from sqlalchemy import Connection, Engine, MetaData, Table, delete, insert, text, update

from hub.storage.positions import positions, positions_of
from hub.storage.schema import create_tables

REBUILD: Final = "__rebuild"
RETIRED: Final = "__retired"

Positions = Mapping[tuple[str, int], int]


def generation_metadata() -> MetaData:
    """Metadata for a new generation's tables, its index names marked with a fresh token.

    Index names are global to a SQLite database and to a PostgreSQL schema, and a renamed table
    keeps its indexes' names: the live tables carry the names the previous rebuild gave them,
    so each rebuild needs names of its own.
    """
    token = uuid.uuid4().hex[:8]
    return MetaData(naming_convention={"ix": f"ix_%(column_0_label)s_{token}"})


def behind(live: Positions, fresh: Positions) -> list[tuple[str, int]]:
    """The partitions where the live generation has applied an entry the fresh one has not."""
    return sorted(key for key, offset in live.items() if fresh.get(key, 0) < offset)


def prepare(engine: Engine, projection: str, tables: Sequence[Table]) -> None:
    """Make ``tables`` afresh (dropping what an interrupted rebuild left) with no positions."""
    create_tables(engine, positions)
    with engine.begin() as connection:
        connection.execute(delete(positions).where(positions.c.projection == projection))
        for table in tables:
            connection.execute(text(f"DROP TABLE IF EXISTS {_quoted(connection, table.name)}"))
    with engine.begin() as connection:
        for table in tables:
            table.create(connection)


def analyze(engine: Engine, tables: Sequence[Table]) -> None:
    """Gather PostgreSQL's statistics of a fresh generation before it is swapped in.

    The rebuild fills its tables faster than autovacuum analyzes them, and a table without
    statistics can set a prepared ``key = ANY($1)`` load on a generic plan that compares every
    row with every key: the live worker's first batches after the swap would pay for it until
    autovacuum came round (ADR 0054). The statistics follow a table through its rename. SQLite
    plans every statement afresh from its indexes: nothing to gather there.
    """
    if engine.dialect.name != "postgresql" or not tables:
        return
    with engine.begin() as connection:
        names = ", ".join(_quoted(connection, table.name) for table in tables)
        connection.execute(text(f"ANALYZE {names}"))


def swap(
    engine: Engine,
    live_projection: str,
    live: Sequence[Table],
    fresh_projection: str,
    fresh: Sequence[Table],
) -> list[tuple[str, int]]:
    """Put the fresh generation in the live one's place, in one transaction.

    Returns the partitions where the live generation is ahead (it applied entries meanwhile);
    then nothing has changed and the caller catches up and tries again. Returns ``[]`` once
    swapped.
    """
    with engine.connect() as connection:
        transaction = connection.begin()
        try:
            _lock(connection, [live_projection, fresh_projection], [*live, *fresh])
            live_at = positions_of(connection, live_projection)
            fresh_at = positions_of(connection, fresh_projection)
            lagging = behind(live_at, fresh_at)
            if lagging:
                transaction.rollback()
                return lagging
            for old, new in zip(live, fresh, strict=True):
                name = _quoted(connection, old.name)
                retired = _quoted(connection, old.name + RETIRED)
                connection.execute(text(f"ALTER TABLE {name} RENAME TO {retired}"))
                renamed = f"ALTER TABLE {_quoted(connection, new.name)} RENAME TO {name}"
                connection.execute(text(renamed))
                connection.execute(text(f"DROP TABLE {retired}"))
            _move_positions(connection, live_projection, live_at, fresh_projection, fresh_at)
            transaction.commit()
        except BaseException:
            if transaction.is_active:
                transaction.rollback()
            raise
    return []


def _lock(connection: Connection, projections: Sequence[str], tables: Sequence[Table]) -> None:
    """Hold off every apply of either generation until the swap commits.

    PostgreSQL: first the positions rows (an apply reads its row ``FOR UPDATE`` before touching
    any table, so this order cannot deadlock with one), then the tables themselves. SQLite: a
    write as the first statement takes the database's one write lock.
    """
    if connection.dialect.name == "postgresql":
        connection.execute(
            positions.select().where(positions.c.projection.in_(projections)).with_for_update()
        )
        names = ", ".join(_quoted(connection, table.name) for table in tables)
        connection.execute(text(f"LOCK TABLE {names} IN ACCESS EXCLUSIVE MODE"))
    elif connection.dialect.name == "sqlite":
        connection.execute(
            update(positions)
            .where(positions.c.projection == projections[-1])
            .values(next_offset=positions.c.next_offset)
        )
    else:
        raise NotImplementedError(f"no table swap for {connection.dialect.name}")


def _move_positions(
    connection: Connection,
    live_projection: str,
    live_at: Positions,
    fresh_projection: str,
    fresh_at: Positions,
) -> None:
    """The live positions become the fresh ones (updated in place: row locks stay meaningful)."""
    for (topic, partition), offset in sorted(fresh_at.items()):
        where = (
            (positions.c.projection == live_projection)
            & (positions.c.topic == topic)
            & (positions.c.partition == partition)
        )
        if (topic, partition) in live_at:
            connection.execute(update(positions).where(where).values(next_offset=offset))
        else:
            connection.execute(
                insert(positions).values(
                    projection=live_projection, topic=topic, partition=partition, next_offset=offset
                )
            )
    connection.execute(delete(positions).where(positions.c.projection == fresh_projection))


def _quoted(connection: Connection, name: str) -> str:
    return connection.dialect.identifier_preparer.quote(name)
