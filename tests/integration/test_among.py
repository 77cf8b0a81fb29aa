"""A column among many values (:func:`hub.storage.among.among`) on both databases: the same
rows as an ``IN`` list, and on PostgreSQL one statement text whatever the number of values."""

from __future__ import annotations

import uuid

from sqlalchemy import Column, Engine, MetaData, String, Table, event, insert, select

from hub.storage.among import among


def test_the_same_rows_and_on_postgresql_one_text_for_any_number_of_values(
    sql_engine: Engine,
) -> None:
    table = Table(
        f"among_{uuid.uuid4().hex[:8]}", MetaData(), Column("key", String, primary_key=True)
    )
    table.create(sql_engine)
    statements: list[str] = []

    def note(_c: object, _cursor: object, statement: str, *_args: object) -> None:
        if table.name in statement and statement.lstrip().upper().startswith("SELECT"):
            statements.append(statement)

    try:
        with sql_engine.begin() as connection:
            connection.execute(insert(table), [{"key": f"k{i}"} for i in range(100)])
        event.listen(sql_engine, "before_cursor_execute", note)
        with sql_engine.connect() as connection:
            for wanted in (["k1", "k7", "missing"], [f"k{i}" for i in range(0, 100, 2)], []):
                found = connection.scalars(
                    select(table.c.key).where(among(connection, table.c.key, wanted))
                ).all()
                assert sorted(found) == sorted(set(wanted) - {"missing"})
    finally:
        event.remove(sql_engine, "before_cursor_execute", note)
        table.drop(sql_engine)
    if sql_engine.dialect.name == "postgresql":
        assert len(set(statements)) == 1, statements  # = ANY(array): one text
    else:
        assert len(set(statements)) == 3  # an IN list of each length (SQLite has no arrays)
