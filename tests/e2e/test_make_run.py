"""``hub run`` (what ``make run`` starts) on an empty state directory, then again on its state.

The first ``make run`` on a fresh machine once failed: the API and the worker raced to create
the same tables (issue 16). This runs the real command as a user does — its own broker (from the
cached jars, so nothing is fetched), worker, API and MLLP listener — until the demo alert is
readable through the API; stops it with Ctrl-C (SIGINT); starts it again on the same state and
reads the alert again.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any

import httpx
import pytest

from hub.kafka.local import stop_broker
from tests.conftest import cache_dir
from tests.support.net import free_port
from tests.support.processes import eventually

pytestmark = pytest.mark.kafka

READY = re.compile(r"ready\. The demo midwife's open alerts: curl -H '([^:]+): ([^']+)' (\S+)")
NEWPORT = re.compile(r"sign in at (\S+)/inbox with the Aneurin Bevan midwife's key (\S+) and")


@contextmanager
def hub_run(
    env: dict[str, str], log: Path, *, as_background_job: bool = False
) -> Iterator[subprocess.Popen[bytes]]:
    """``hub run`` in its own process group; afterwards nothing it started is left running.
    ``as_background_job``: started as a shell starts ``make run &``, with SIGINT ignored."""
    command = [sys.executable, "-m", "hub", "run"]
    if as_background_job:
        command = ["/bin/sh", "-c", 'trap "" INT; exec "$0" "$@"', *command]
    with log.open("wb") as out:
        process = subprocess.Popen(
            command,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        yield process
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGINT)
            try:
                process.wait(60)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        with suppress(ProcessLookupError):  # a child that outlived it (the broker has its own)
            os.killpg(process.pid, signal.SIGKILL)
        stop_broker(Path(env["HUB_STATE_DIR"]))


def demo_alerts_read_through_the_api(log: Path) -> list[object]:
    """Wait for ``hub run``'s "ready" line, then read the alerts it names as the midwife."""
    eventually(
        lambda: READY.search(log.read_text()) is not None, timeout_s=240, what="ready", log=log
    )
    ready = READY.search(log.read_text())
    assert ready is not None
    header, value, url = ready.groups()
    response = httpx.get(url, headers={header: value}, timeout=10)
    assert response.status_code == 200, response.text
    alerts: list[object] = response.json()["alerts"]
    return alerts


def newport_alerts(log: Path) -> list[dict[str, Any]]:
    """The Newport midwife's alerts, with the key and address ``hub run`` printed."""
    found = NEWPORT.search(log.read_text())
    assert found is not None, log.read_text()
    base, key = found.groups()
    response = httpx.get(
        f"{base}/practitioners/MW-22/alerts", headers={"Authorization": f"Bearer {key}"}
    )
    assert response.status_code == 200, response.text
    alerts: list[dict[str, Any]] = response.json()["alerts"]
    return alerts


def test_hub_run_on_an_empty_state_directory_then_again_on_its_state(tmp_path: Path) -> None:
    state = tmp_path / "state"  # does not exist yet: a fresh machine
    env = {k: v for k, v in os.environ.items() if not k.startswith("HUB_")}
    env.pop("KAFKA_BOOTSTRAP_SERVERS", None)  # hub run starts its own broker
    env |= {
        "HUB_STATE_DIR": str(state),
        "HUB_KAFKA_JARS_DIR": str(cache_dir() / "kafka-jars"),
        "HUB_API_PORT": str(free_port()),
        "HUB_MLLP_PORT": str(free_port()),
    }
    for run in ("first", "second"):
        log = tmp_path / f"{run}-run.log"
        with hub_run(env, log, as_background_job=run == "second") as process:
            alerts = demo_alerts_read_through_the_api(log)
            assert len(alerts) == 1, alerts
            # Newport's Baby and Me beside it: the ABUHB no-show for the Welsh-speaking
            # mother, read by the 7A6 midwife with the key hub run printed.
            [welsh] = newport_alerts(log)
            assert welsh["organisation_code"] == "7A6", welsh
            assert welsh["person"]["language"] == "cy", welsh
            if run == "first":
                process.send_signal(signal.SIGINT)  # `kill -INT`: the supervisor alone
            else:  # `kill -INT -PGID` of a background `make run`, as Ctrl-C: the whole group
                os.killpg(process.pid, signal.SIGINT)
            assert process.wait(60) == 0, log.read_text()
        assert "Kafka stopped" in log.read_text()
        assert "a hub process exited" not in log.read_text()
        # Nothing alarms a new user: the worker joined a broker that already named its group's
        # coordinator (aiokafka logged an ERROR for every first start before it did).
        errors = [line for line in log.read_text().splitlines() if "[ERROR]" in line]
        assert not errors, errors
    assert not (state / "kafka-jars").exists()  # the cache was used: nothing was fetched
