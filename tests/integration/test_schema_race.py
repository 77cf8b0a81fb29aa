"""Several processes creating every store's tables at once on one fresh database (issue 16).

``make run`` starts the API, the worker and the MLLP listener together on an empty state
directory; each creates its tables at start. Here real OS processes do the same, released
together by a barrier, on a fresh SQLite file and a fresh PostgreSQL database: every one must
succeed, and the database must end with every table.
"""

from __future__ import annotations

import multiprocessing
from collections.abc import Iterator
from multiprocessing.synchronize import Barrier
from pathlib import Path

import pytest
from sqlalchemy import inspect

from hub.alerts.store import MissedAppointmentStore
from hub.auth.store import ClientStore, auth_metadata
from hub.connectors.cursors import CursorStore, cursor_metadata
from hub.connectors.receipts import Receipts, receipts_metadata
from hub.erasure.keystore import SubjectKeyStore, key_metadata
from hub.errorqueue.store import QuarantineStore
from hub.identity.store import IdentityStore
from hub.outcomes.store import OutcomesStore
from hub.projections.registry import derived_tables
from hub.sharing.change_log import ChangeLog, change_metadata
from hub.sharing.store import SharingStore
from hub.storage.engine import make_engine
from hub.storage.kek import LocalKek
from hub.storage.leases import Lease, leases_metadata
from hub.storage.schema import create_tables
from hub.subscriptions.partner_topics import partner_topic_metadata
from hub.subscriptions.store import SubscriptionStore
from hub.subscriptions.tables import subscriptions_metadata
from hub.team.store import TeamStore
from tests.support import postgres

PROCESSES = 6


def create_every_schema(url: str, barrier: Barrier) -> None:
    """What the API, the worker and the CLI commands do at start, in one process."""
    engine = make_engine(url)
    barrier.wait(60)
    MissedAppointmentStore(engine).create_schema()
    TeamStore(engine).create_schema()
    OutcomesStore(engine).create_schema()
    QuarantineStore(engine, lambda system: None).create_schema()
    IdentityStore(engine).create_schema()
    SharingStore(engine).create_schema()
    ChangeLog(engine).create_schema()
    SubjectKeyStore(engine, LocalKek.generate()).create_schema()
    ClientStore(engine).create_schema()
    SubscriptionStore(engine, LocalKek.generate()).create_schema()
    CursorStore(engine).create_schema()
    Receipts(engine)
    Lease(engine, "schema-race")
    create_tables(engine, partner_topic_metadata)  # the worker's, with partners' topics
    engine.dispose()


def every_table() -> set[str]:
    projections = {table.name for table in derived_tables()}
    schemas = (
        partner_topic_metadata,
        auth_metadata,
        cursor_metadata,
        receipts_metadata,
        key_metadata,
        change_metadata,
    )
    return projections | {
        name
        for schema in (*schemas, leases_metadata, subscriptions_metadata)
        for name in schema.tables
    }


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def fresh_database(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """The URL of a database with no tables yet."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'fresh.sqlite3'}"
        return
    with postgres.fresh_database(request.getfixturevalue("postgres_url")) as url:
        yield url


def test_processes_starting_together_all_create_the_schema(fresh_database: str) -> None:
    context = multiprocessing.get_context("spawn")  # fresh interpreters, as `hub run` starts
    barrier = context.Barrier(PROCESSES)
    processes = [
        context.Process(target=create_every_schema, args=(fresh_database, barrier))
        for _ in range(PROCESSES)
    ]
    for process in processes:
        process.start()
    for process in processes:
        process.join(120)
    exit_codes = [process.exitcode for process in processes]
    assert exit_codes == [0] * PROCESSES
    engine = make_engine(fresh_database)
    try:
        assert every_table() <= set(inspect(engine).get_table_names())
    finally:
        engine.dispose()
