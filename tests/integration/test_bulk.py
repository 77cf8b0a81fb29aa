"""Writes of many rows (:mod:`hub.storage.bulk`) on both databases: the rows they leave, in the
order given, and on PostgreSQL one statement per call whatever the number of rows."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from sqlalchemy import (
    Boolean,
    Column,
    DateTime,
    Engine,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    event,
    select,
)

from hub.storage.bulk import delete_rows, insert_missing, insert_rows, upsert_many

AT = datetime(2026, 12, 7, 9, 30, tzinfo=UTC)


@pytest.fixture
def tables(sql_engine: Engine) -> Iterator[tuple[Table, Table]]:
    metadata = MetaData()
    suffix = uuid.uuid4().hex[:8]
    keyed = Table(
        f"bulk_keyed_{suffix}",
        metadata,
        Column("group_key", String(40), primary_key=True),
        Column("item_id", String, primary_key=True),
        Column("body", String, nullable=True),
        Column("count", Integer, nullable=False),
        Column("at", DateTime(timezone=True), nullable=False),
        Column("secret", LargeBinary, nullable=True),
        Column("active", Boolean, nullable=False),
    )
    feed = Table(
        f"bulk_feed_{suffix}",
        metadata,
        Column("seq", Integer, primary_key=True, autoincrement=True),
        Column("change", String, nullable=False),
    )
    metadata.create_all(sql_engine)
    yield keyed, feed
    metadata.drop_all(sql_engine)


def _row(group: str, item: str, body: str | None, count: int) -> dict[str, object]:
    secret = body.encode() if body else None
    return {
        "group_key": group,
        "item_id": item,
        "body": body,
        "count": count,
        "at": AT,
        "secret": secret,
        "active": count % 2 == 0,
    }


def _contents(engine: Engine, table: Table) -> list[tuple[object, ...]]:
    with engine.connect() as connection:
        return [
            (r.group_key, r.item_id, r.body, r.count, r.secret, r.active)
            for r in connection.execute(select(table).order_by(table.c.group_key, table.c.item_id))
        ]


def test_inserts_upserts_and_deletes_leave_the_rows_executemany_left(
    sql_engine: Engine, tables: tuple[Table, Table]
) -> None:
    keyed, _ = tables
    keys = ("group_key", "item_id")
    with sql_engine.begin() as connection:
        insert_rows(connection, keyed, [_row("f1", f"i{n}", None, n) for n in range(4)])
        # a replacement of two rows and a new one; then a missing insert that must not replace
        upsert_many(
            connection, keyed, keys, [_row("f1", "i2", "new", 20), _row("f2", "i0", "b", 5)]
        )
        insert_missing(
            connection, keyed, keys, [_row("f1", "i3", "kept?", 30), _row("f3", "i0", "c", 6)]
        )
        # a whole key and a key of no row; then every row of one group, by part of the key
        delete_rows(
            connection,
            keyed,
            [{"group_key": "f1", "item_id": "i0"}, {"group_key": "f9", "item_id": "i0"}],
        )
        delete_rows(connection, keyed, [{"group_key": "f3"}])
        for nothing in (insert_rows, delete_rows):
            nothing(connection, keyed, [])
    assert _contents(sql_engine, keyed) == [
        ("f1", "i1", None, 1, None, False),
        ("f1", "i2", "new", 20, b"new", True),
        ("f1", "i3", None, 3, None, False),
        ("f2", "i0", "b", 5, b"b", False),
    ]


def test_a_serial_column_numbers_the_rows_in_the_order_given(
    sql_engine: Engine, tables: tuple[Table, Table]
) -> None:
    _, feed = tables
    given = [f"change-{n}" for n in (7, 3, 9, 1, 5, 2, 8)]
    with sql_engine.begin() as connection:
        insert_rows(connection, feed, [{"change": c} for c in given[:3]])
        insert_rows(connection, feed, [{"change": c} for c in given[3:]])
    with sql_engine.connect() as connection:
        assert list(connection.scalars(select(feed.c.change).order_by(feed.c.seq))) == given


def test_on_postgresql_one_statement_a_call_whatever_the_rows(
    sql_engine: Engine, tables: tuple[Table, Table]
) -> None:
    keyed, _ = tables
    executed: list[tuple[str, bool]] = []

    def note(
        _c: object, _cursor: object, statement: str, _p: object, _x: object, many: bool
    ) -> None:
        if keyed.name in statement:
            executed.append((statement, many))

    event.listen(sql_engine, "before_cursor_execute", note)
    try:
        for size in (1, 40, 700):
            with sql_engine.begin() as connection:
                rows = [_row(f"s{size}", f"i{n}", "x", n) for n in range(size)]
                upsert_many(connection, keyed, ("group_key", "item_id"), rows)
                delete_rows(connection, keyed, [{"group_key": r["group_key"]} for r in rows[:1]])
    finally:
        event.remove(sql_engine, "before_cursor_execute", note)
    assert len(executed) == 6
    if sql_engine.dialect.name == "postgresql":
        # no executemany, and one text for each statement (compiled and prepared once)
        assert not any(many for _, many in executed)
        assert len({text for text, _ in executed}) == 2
    else:  # SQLite's in-process executemany, for the upserts of more than one row
        assert [many for _, many in executed] == [False, False, True, False, True, False]
