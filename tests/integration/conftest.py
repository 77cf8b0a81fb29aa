"""One SQL engine fixture, run against every adapter: SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine

import hub.identity.store
import hub.sharing.store  # noqa: F401 - registers their tables on the shared metadata
from hub.connectors.cursors import cursor_metadata
from hub.erasure.keystore import key_metadata
from hub.projections.positions import metadata
from hub.projections.store import make_engine


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def sql_engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'store.sqlite3'}"
    else:
        url = request.getfixturevalue("postgres_url")  # one server for the session
    engine = make_engine(url)
    metadata.create_all(engine)
    key_metadata.create_all(engine)
    cursor_metadata.create_all(engine)
    yield engine
    if request.param == "postgresql":
        metadata.drop_all(engine)
        key_metadata.drop_all(engine)
        cursor_metadata.drop_all(engine)
    engine.dispose()
