"""A real hang (ADR 0018): the projection store's positions table is locked while events arrive.

The worker's apply waits on the lock inside its transaction: Kafka sees a healthy group member,
so only the stored positions tell. ``/health`` must turn 503 naming the stalled projection, the
watchdog must end the worker (exit 70, naming the stuck entry), ``hub run``'s supervisor
(:class:`hub.processes.supervisor.Restarting`) must restart it, and once the lock is released
the projection must catch up — every alert once — and ``/health`` be 200 again.
"""

from __future__ import annotations

import signal
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import Engine, text

from hub.alerts.store import MissedAppointmentStore
from hub.erasure.keystore import open_key_store
from hub.ingest.sink import CaseEventSink
from hub.kafka.publisher import KafkaPublisher
from hub.processes.supervisor import Restarting
from hub.projections.watchdog import EXIT_STALLED
from hub.settings import Settings
from hub.storage.engine import make_engine
from tests.builders import assigned, missed, registered
from tests.e2e.conftest import api_process
from tests.support.net import free_port
from tests.support.postgres import postgres_server
from tests.support.processes import eventually, settings_env

pytestmark = [pytest.mark.kafka, pytest.mark.postgres, pytest.mark.faults]


def alerts(engine: Engine) -> tuple[int, int]:
    """Alert rows, and distinct appointments among them (equal: no duplicates)."""
    with engine.connect() as connection:
        row = connection.execute(
            text("SELECT count(*), count(DISTINCT appointment) FROM alerts")
        ).one()
    return int(row[0]), int(row[1])


def health(base: str) -> tuple[int, dict[str, Any]]:
    try:
        response = httpx.get(f"{base}/health", timeout=20)
    except httpx.HTTPError:
        return 0, {}
    body: dict[str, Any] = response.json()
    return response.status_code, body


def spawn_worker(settings: Settings, log: Path) -> subprocess.Popen[bytes]:
    with log.open("ab") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "hub", "worker"],
            env=settings_env(settings),
            stdout=out,
            stderr=subprocess.STDOUT,
        )


def test_a_hung_projection_is_reported_restarted_and_catches_up(
    make_settings: Callable[..., Settings], tmp_path: Path
) -> None:
    with postgres_server() as pg:
        # Static membership, as the kill -9 test: the watchdog's exit sends no LeaveGroup, so a
        # restarted member of a dynamic group waits ~55 s for the broker to time the old one out.
        settings = make_settings(
            api_port=free_port(),
            database_url=pg.url,
            stall_seconds=3,
            worker_stall_seconds=10,
            worker_instance_id="stalled-worker",
        )
        engine = make_engine(pg.url)
        MissedAppointmentStore(engine).create_schema()  # to count alerts before the worker runs
        publisher = KafkaPublisher(settings.bootstrap_servers())
        sink = CaseEventSink(publisher, settings, open_key_store(settings))  # disposed below
        log = tmp_path / "worker.log"
        worker: Restarting | None = None
        try:
            for event in [registered(), assigned("mw-1"), missed("APT-1")]:
                sink.publish_sync(event)
            with api_process(settings, tmp_path) as base:
                worker = Restarting("worker", lambda: spawn_worker(settings, log))
                eventually(
                    lambda: alerts(engine) == (1, 1) and health(base)[0] == 200,
                    timeout_s=120,
                    what="the first alert and /health 200",
                    log=log,
                )
                with engine.connect() as locker:
                    # Plain reads (the API's) still pass; the worker's SELECT ... FOR UPDATE waits.
                    locker.execute(text("LOCK TABLE projection_positions IN EXCLUSIVE MODE"))
                    for n in (2, 3, 4):
                        sink.publish_sync(missed(f"APT-{n}"))
                    seen: list[dict[str, Any]] = []

                    def stalled() -> bool:
                        status, body = health(base)
                        seen.append(body)
                        return status == 503 and any(
                            "projection identity stalled" in reason
                            for reason in body.get("stalled", [])
                        )

                    eventually(stalled, timeout_s=60, what="/health 503 naming identity", log=log)
                    assert seen[-1]["worker_consuming"] is True  # Kafka alone saw nothing wrong
                    first = worker.process
                    eventually(
                        lambda: first.poll() is not None,
                        timeout_s=60,
                        what="the watchdog ending the worker",
                        log=log,
                    )
                    assert first.returncode == EXIT_STALLED
                    assert f"watchdog: handling {settings.case_events_topic}[" in log.read_text()
                    locker.rollback()  # the lock goes

                def recovered() -> bool:
                    assert worker is not None
                    worker.check()  # the supervisor's loop: restart the worker if it exited
                    return alerts(engine) == (4, 4) and health(base)[0] == 200

                eventually(recovered, timeout_s=150, what="catch-up and /health 200", log=log)
                assert worker.restarts >= 1
                assert health(base)[1]["stalled"] == []
        finally:
            if worker is not None and worker.process.poll() is None:
                worker.process.send_signal(signal.SIGTERM)
                try:
                    worker.process.wait(30)
                except subprocess.TimeoutExpired:
                    worker.process.kill()
                    worker.process.wait()
            publisher.close()
            engine.dispose()
