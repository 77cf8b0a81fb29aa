"""Local state deleted: the worker rebuilds its projections from the log (ADR 0004).

The group has committed every offset, so Faust alone would resume at the end of the log and
leave the emptied store empty for good. The store's positions are the truth: with none left,
every partition resumes from the start of the log.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

from hub.erasure.keystore import open_key_store
from hub.ingest.sink import CaseEventSink
from hub.kafka.publisher import KafkaPublisher
from hub.settings import Settings
from hub.storage.engine import make_engine
from tests.faults.support import (
    QUIET,
    contents,
    copy_sqlite,
    drop_derived_tables,
    reference,
    scenario,
    wait_caught_up,
    worker,
)

pytestmark = [pytest.mark.kafka, pytest.mark.faults]


def test_a_deleted_projection_store_is_rebuilt_and_equals_a_clean_replay(
    make_settings: Callable[..., Settings], tmp_path: Path
) -> None:
    settings = make_settings(**QUIET)
    events = scenario(families=40, seed=7)
    publisher = KafkaPublisher(settings.bootstrap_servers())
    try:
        sink = CaseEventSink(publisher, settings, open_key_store(settings))
        for entry in events:
            sink.publish_sync(entry)
    finally:
        publisher.close()
    # The subject keys (ADR 0009) are in the same SQLite file: the clean rebuild gets a copy.
    copy_sqlite(tmp_path / "projections.sqlite3", tmp_path / "clean.sqlite3")
    engine = make_engine(settings.resolved_database_url())
    log = tmp_path / "worker.log"
    with worker(settings, log):
        wait_caught_up(settings, engine, log)
    before = contents(engine)
    assert before["alerts"], "the scenario raises alerts"

    # Local state deleted: every projection table and Faust's data directory. (Not the key
    # store's tables: deleting those would be erasing everyone, ADR 0009.)
    drop_derived_tables(engine)
    shutil.rmtree(tmp_path / "faust")
    with worker(settings, log):
        wait_caught_up(settings, engine, log)
    rebuilt = contents(engine)

    clean = reference(settings, f"sqlite:///{tmp_path / 'clean.sqlite3'}")
    clean_engine = make_engine(clean.resolved_database_url())
    clean_log = tmp_path / "clean.log"
    with worker(clean, clean_log):
        wait_caught_up(clean, clean_engine, clean_log)
    expected = contents(clean_engine)
    assert expected["alerts"], "the clean rebuild read the log"
    assert rebuilt == expected
    assert before == expected
