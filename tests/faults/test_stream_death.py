"""No silent stream death: an exception the runner does not handle stops the worker process.

Faust logs an agent's exception and carries on without the agent, its partitions stalled
behind a live process. The worker must instead exit non-zero naming the entry, so that its
supervisor restarts it and nothing past the entry is committed.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from sqlalchemy import text

from hub.alerts.store import MissedAppointmentStore
from hub.erasure.keystore import open_key_store
from hub.ingest.sink import CaseEventSink
from hub.kafka.publisher import KafkaPublisher
from hub.settings import Settings
from hub.storage.engine import make_engine
from tests.builders import assigned, missed, registered
from tests.faults.support import QUIET, worker

pytestmark = [pytest.mark.kafka, pytest.mark.faults]


def test_an_unexpected_failure_in_a_projection_stops_the_worker_naming_the_entry(
    make_settings: Callable[..., Settings], tmp_path: Path
) -> None:
    settings = make_settings(**QUIET)
    engine = make_engine(settings.resolved_database_url())
    MissedAppointmentStore(engine).create_schema()
    # A fault no handler expects: writing an alert fails with an integrity error (neither a
    # refused event, which is dead-lettered, nor a store that is down, which is retried).
    with engine.begin() as connection:
        connection.execute(
            text(
                "CREATE TRIGGER boom BEFORE INSERT ON alerts BEGIN SELECT RAISE(ABORT, 'boom'); END"
            )
        )
    publisher = KafkaPublisher(settings.bootstrap_servers())
    try:
        sink = CaseEventSink(publisher, settings, open_key_store(settings))
        for entry in [registered(), assigned("mw-1"), missed("APT-1")]:
            sink.publish_sync(entry)
    finally:
        publisher.close()
    log = tmp_path / "worker.log"
    with worker(settings, log) as process:
        code = process.wait(120)
    output = log.read_text(errors="replace")
    assert code == 70, output[-3000:]
    assert f"unexpected failure applying {settings.family_events_topic}[" in output
    assert "boom" in output
