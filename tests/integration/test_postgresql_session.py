"""What the hub's engine sets on each PostgreSQL connection (ADR 0052): lists sent in binary,
on a new connection and on one back from the pool, every value as it was."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from psycopg.adapt import PyFormat
from psycopg.types.array import ListBinaryDumper
from sqlalchemy import Engine, text

from hub.storage.engine import make_engine

pytestmark = pytest.mark.postgres


@pytest.fixture
def engine(postgres_url: str) -> Iterator[Engine]:
    made = make_engine(postgres_url)
    yield made
    made.dispose()


def test_every_connection_sends_lists_in_binary(engine: Engine) -> None:
    for _ in range(2):  # a new connection, then the same one back from the pool after a rollback
        with engine.connect() as connection:
            awkward = ['{"a": "b, c"}', "back\\slash", "NULL", "", " spaced ", None]
            unnested = connection.execute(
                text("SELECT unnest(CAST(:values AS text[]))"), {"values": awkward}
            ).scalars()
            assert list(unnested) == awkward  # what the text form had to quote and escape
            adapters = connection.connection.dbapi_connection.adapters  # type: ignore[union-attr]
            assert adapters.get_dumper(list, PyFormat.AUTO) is ListBinaryDumper
            connection.rollback()
