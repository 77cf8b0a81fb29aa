"""Writes of many rows in one statement: the stores' inserts, upserts and deletes of a batch.

On SQLite these are the driver's ``executemany``: SQLite runs in the process, and a statement
prepared once and stepped per row is what it does fastest. On PostgreSQL ``executemany`` is
row by row: psycopg sends one execution per row (pipelined, but each bound, run and answered by
the server on its own), and a batch of families writes several tables of tens of rows. There the
rows travel as one array per column and the server unnests them: ``INSERT … SELECT FROM
unnest(:a, :b, …)``, ``DELETE … USING unnest(…)``. One statement per table and batch, with one
text whatever the number of rows, so SQLAlchemy compiles it once and psycopg prepares it (ADR
0052, which gives the measurement; ADR 0051 did the same for the reads' key lists).

The rows are unnested ``WITH ORDINALITY`` and inserted in that order, so a serial column (the
alerts' change feed) numbers them in the order given, as ``executemany`` did.

Each statement is built once per table, columns and database, and kept: building SQLAlchemy's
construct anew is ~0.4 ms, a cost per table and batch larger than the rows' own (a first
version that rebuilt it made the PostgreSQL worker slower, ADR 0052).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from functools import lru_cache
from typing import Any, Literal

from sqlalchemy import (
    ARRAY,
    Connection,
    Table,
    and_,
    bindparam,
    column,
    delete,
    func,
    insert,
    select,
)
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

_ORDINAL = "bulk_ordinal"
_Kind = Literal["insert", "missing", "upsert", "delete"]


def insert_rows(connection: Connection, table: Table, rows: Iterable[Mapping[str, Any]]) -> None:
    """Insert every one of ``rows`` (each with the same columns), in their order."""
    _run(connection, table, "insert", (), rows)


def insert_missing(
    connection: Connection, table: Table, keys: Sequence[str], rows: Iterable[Mapping[str, Any]]
) -> None:
    """Insert those of ``rows`` whose ``keys`` (the primary key) have no row yet, leaving the
    rows there are as they are: ``INSERT … ON CONFLICT DO NOTHING``."""
    _run(connection, table, "missing", tuple(keys), rows)


def upsert_many(
    connection: Connection, table: Table, keys: Sequence[str], rows: Iterable[Mapping[str, Any]]
) -> None:
    """Insert ``rows``, each replacing the row of the same ``keys`` (the table's primary key)
    where there is one: ``INSERT … ON CONFLICT DO UPDATE``. A key must not repeat among
    ``rows`` (PostgreSQL refuses to update a row twice in one statement): callers keep the last
    write of each key."""
    _run(connection, table, "upsert", tuple(keys), rows)


def delete_rows(connection: Connection, table: Table, rows: Iterable[Mapping[str, Any]]) -> None:
    """Delete the rows whose columns equal those of one of ``rows`` (each a mapping of the
    same column names to values: a key of the table, whole or in part)."""
    _run(connection, table, "delete", (), rows)


def _run(
    connection: Connection,
    table: Table,
    kind: _Kind,
    keys: tuple[str, ...],
    rows: Iterable[Mapping[str, Any]],
) -> None:
    listed = list(rows)
    if not listed:
        return
    names = tuple(listed[0])
    if connection.dialect.name == "postgresql":
        arrays = {_array(name): [row[name] for row in listed] for name in names}
        connection.execute(_unnesting(table, kind, keys, names), arrays)
    else:
        connection.execute(_per_row(table, kind, keys, names), listed)


def _array(name: str) -> str:
    return f"bulk_{name}"


@lru_cache(maxsize=512)  # per table, kind and columns; a rebuild makes new tables
def _unnesting(table: Table, kind: _Kind, keys: tuple[str, ...], names: tuple[str, ...]) -> Any:
    """The PostgreSQL statement of ``kind`` over ``unnest(:bulk_a, :bulk_b, …) WITH
    ORDINALITY``: one array parameter per column, of the column's type."""
    types = [table.c[name].type for name in names]
    source = (
        func.unnest(
            *(
                bindparam(_array(name), type_=ARRAY(type_))
                for name, type_ in zip(names, types, strict=True)
            )
        )
        .table_valued(
            *(column(name, type_) for name, type_ in zip(names, types, strict=True)),
            with_ordinality=_ORDINAL,
        )
        .render_derived(with_types=False)
    )
    if kind == "delete":
        return delete(table).where(and_(*(table.c[name] == source.c[name] for name in names)))
    rows = select(*(source.c[name] for name in names)).order_by(source.c[_ORDINAL])
    if kind == "insert":
        return insert(table).from_select(names, rows)
    return _on_conflict(postgresql_insert(table).from_select(names, rows), kind, keys, names)


@lru_cache(maxsize=512)  # per table, kind and columns; a rebuild makes new tables
def _per_row(table: Table, kind: _Kind, keys: tuple[str, ...], names: tuple[str, ...]) -> Any:
    """The statement of ``kind`` for one row, which SQLite's ``executemany`` runs over all."""
    if kind == "delete":
        return delete(table).where(and_(*(table.c[name] == bindparam(name) for name in names)))
    if kind == "insert":
        return insert(table)
    return _on_conflict(sqlite_insert(table), kind, keys, names)


def _on_conflict(statement: Any, kind: _Kind, keys: tuple[str, ...], names: tuple[str, ...]) -> Any:
    """``ON CONFLICT (keys)``: nothing for a missing insert (or an upsert of the key alone),
    else every other column from the row that conflicted."""
    others = [name for name in names if name not in keys]
    if kind == "missing" or not others:
        return statement.on_conflict_do_nothing(index_elements=list(keys))
    excluded = statement.excluded
    return statement.on_conflict_do_update(
        index_elements=list(keys), set_={name: excluded[name] for name in others}
    )
