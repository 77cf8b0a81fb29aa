"""One SQL engine fixture, run against every adapter: SQLite and PostgreSQL."""

from __future__ import annotations

import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine

from hub.connectors.cursors import cursor_metadata
from hub.erasure.keystore import key_metadata
from hub.projections.registry import derived_tables
from hub.settings import Settings
from hub.sharing.store import written_table
from hub.storage.engine import make_engine
from hub.storage.schema import create_tables
from hub.subscriptions.partner_topics import partner_topic_metadata
from tests.support.net import free_port, listening
from tests.support.processes import eventually, hub_process


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def sql_engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'store.sqlite3'}"
    else:
        url = request.getfixturevalue("postgres_url")  # one server for the session
    engine = make_engine(url)
    # Every projection's tables and the partner topics' (each named, not found on a shared
    # metadata), the counter dating the sharing facts (made by its store, not a derived table),
    # the key store's and the extract cursors'.
    projections = [*derived_tables(), *partner_topic_metadata.sorted_tables, written_table]
    create_tables(engine, *projections)
    key_metadata.create_all(engine)
    cursor_metadata.create_all(engine)
    yield engine
    if request.param == "postgresql":
        for table in reversed(projections):
            table.drop(engine, checkfirst=True)
        key_metadata.drop_all(engine)
        cursor_metadata.drop_all(engine)
    engine.dispose()


@pytest.fixture
def mllp(
    make_settings: Callable[..., Settings], tmp_path: Path
) -> Iterator[tuple[Settings, subprocess.Popen[bytes]]]:
    """The MLLP listener as a real process, once it listens."""
    settings = make_settings(mllp_port=free_port())
    with hub_process("mllp", settings, tmp_path) as process:
        eventually(
            lambda: listening(settings.mllp_port),
            timeout_s=60,
            what="the MLLP listener",
            log=tmp_path / "mllp.log",
        )
        yield settings, process
