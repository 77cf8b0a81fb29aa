"""``hub run`` / ``make run``: the whole hub on one machine, with demo data.

Starts (or reuses) the local broker, creates the topics, runs the worker, the API and
``HUB_MLLP_PROCESSES`` MLLP listeners (one by default, sharing one port above that) as child
processes, waits for ``/health``, loads the demo story and shows the alert it produced. A
worker that exits once the hub is up (its watchdog ends it when an entry hangs, ADR 0018) is
restarted with backoff; any other process exiting stops the rest. Ctrl-C stops every process
this command started, and the broker too if this command started it.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable

from hub.kafka.admin import ensure_topics
from hub.processes.demo import DEMO_MIDWIFE_ID, demo_reader, newport_reader, publish_demo
from hub.processes.demo_newport import NEWPORT_MIDWIFE
from hub.settings import Settings


def say(message: str) -> None:
    print(f"[hub] {message}", flush=True)


def _get(url: str, headers: dict[str, str] | None = None) -> tuple[int, str]:
    try:
        request = urllib.request.Request(url, headers=headers or {})  # noqa: S310 - our own URL
        with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310 - our own URL
            return response.status, response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()
    except OSError as error:
        return 0, str(error)


def _has_alerts(url: str, reader: dict[str, str]) -> Callable[[], bool]:
    """Whether the reader's alerts at ``url`` are not empty yet."""
    return lambda: bool(json.loads(_get(url, reader)[1] or "{}").get("alerts"))


def wait_until(
    what: str, check: Callable[[], bool], timeout_s: float, children: list[subprocess.Popen[bytes]]
) -> None:
    deadline = time.monotonic() + timeout_s
    while not check():
        for child in children:
            if child.poll() is not None:
                raise RuntimeError(f"{child.args!r} exited ({child.returncode})")
        if time.monotonic() > deadline:
            raise TimeoutError(f"gave up waiting for {what} after {timeout_s:.0f} s")
        time.sleep(1)


def _stop(children: list[subprocess.Popen[bytes]]) -> None:
    for child in children:
        if child.poll() is None:
            child.send_signal(signal.SIGINT)
    for child in children:
        try:
            child.wait(20)
        except subprocess.TimeoutExpired:
            child.kill()


RESTART_FIRST_S, RESTART_MAX_S, STEADY_S = 1.0, 60.0, 60.0


def restart_delay(previous_s: float | None, uptime_s: float) -> float:
    """How long to wait before restarting a worker that ran ``uptime_s``: doubling from 1 s to
    60 s while it keeps failing, back to 1 s once it had stayed up a minute."""
    if previous_s is None or uptime_s >= STEADY_S:
        return RESTART_FIRST_S
    return min(RESTART_MAX_S, previous_s * 2)


class Restarting:
    """A child process restarted, after :func:`restart_delay`, whenever it exits: how ``hub run``
    supervises the worker, which exits on purpose when an entry hangs
    (hub/projections/watchdog.py)."""

    def __init__(self, name: str, spawn: Callable[[], subprocess.Popen[bytes]]) -> None:
        self.name = name
        self._spawn = spawn
        self.process = spawn()
        self.restarts = 0
        self._started = time.monotonic()
        self._delay: float | None = None

    def check(self) -> None:
        """Restart the child if it has exited (blocking for the backoff delay)."""
        if self.process.poll() is None:
            return
        uptime = time.monotonic() - self._started
        self._delay = restart_delay(self._delay, uptime)
        say(
            f"the {self.name} exited ({self.process.returncode}) after {uptime:.0f} s; "
            f"restarting it in {self._delay:.0f} s"
        )
        time.sleep(self._delay)
        self.process, self._started = self._spawn(), time.monotonic()
        self.restarts += 1


def _interrupt(_signum: int, _frame: object) -> None:
    raise KeyboardInterrupt


def run_all(settings: Settings) -> int:
    from hub.kafka.local import (
        JavaNotFoundError,
        MavenNotFoundError,
        broker_status,
        start_broker,
        stop_broker,
    )

    # `kill`, systemd and CI stop us with SIGTERM: clean up exactly as for Ctrl-C. SIGINT too,
    # explicitly: a shell starts a background job with SIGINT ignored, and `kill -INT` must
    # still stop it (and the children, spawned after this, start with SIGINT's default).
    signal.signal(signal.SIGTERM, _interrupt)
    signal.signal(signal.SIGINT, _interrupt)
    started_broker = False
    if not settings.kafka_bootstrap_servers:
        already = broker_status(settings.state_dir)
        try:
            broker = already or start_broker(
                settings.state_dir, settings.resolved_kafka_jars_dir(), progress=say
            )
        except (JavaNotFoundError, MavenNotFoundError) as error:
            say(str(error))
            return 2
        started_broker = already is None
        say(f"Kafka at {broker.bootstrap_servers} (log: {broker.log_file})")
        settings = settings.model_copy(update={"kafka_bootstrap_servers": broker.bootstrap_servers})
    children: list[subprocess.Popen[bytes]] = []
    try:
        created = ensure_topics(settings)
        say(f"topics created: {', '.join(created)}" if created else "topics exist")
        env = {**os.environ, "KAFKA_BOOTSTRAP_SERVERS": settings.bootstrap_servers()}

        def spawn(command: str) -> subprocess.Popen[bytes]:
            # A process group of its own: Ctrl-C reaches this supervisor alone, which stops the
            # children itself; otherwise they die with it at once and the loop below mistakes
            # that for a crash ("a hub process exited") and exits 1.
            return subprocess.Popen(  # noqa: S603
                [sys.executable, "-m", "hub", command], env=env, process_group=0
            )

        worker = Restarting("worker", lambda: spawn("worker"))
        children.append(worker.process)
        children.append(spawn("api"))
        # HUB_MLLP_PROCESSES listeners on one port (SO_REUSEPORT above 1, ADR 0042): each its
        # own producer and key-store connections, the kernel spreading connections over them.
        children.extend(spawn("mllp") for _ in range(settings.mllp_processes))
        base = f"http://{settings.api_host}:{settings.api_port}"
        say(f"waiting for {base}/health (the worker joins its consumer group) ...")
        wait_until("/health", lambda: _get(f"{base}/health")[0] == 200, 180, children[1:])
        for line in publish_demo(settings):
            say(f"demo: {line}")
        alerts_url = f"{base}/practitioners/{DEMO_MIDWIFE_ID}/alerts"
        newport_url = f"{base}/practitioners/{NEWPORT_MIDWIFE[2]}/alerts"
        midwife, newport = demo_reader(settings), newport_reader(settings)
        for what, url, reader in (
            ("the demo alert", alerts_url, midwife),
            ("the Newport demo alert", newport_url, newport),
        ):
            wait_until(what, _has_alerts(url, reader), 60, children[1:])
        key = newport["Authorization"].removeprefix("Bearer ")
        say(
            f"Newport (Wales): sign in at {base}/inbox with the Aneurin Bevan midwife's key "
            f"{key} and choose Cymraeg to read Ffion's alert in Welsh."
        )
        headers = " ".join(f"-H '{name}: {value}'" for name, value in midwife.items())
        say(f"ready. The demo midwife's open alerts: curl {headers} {alerts_url}")
        say(
            "(her API key is new each run; register other readers with `hub clients add`, "
            "see README 'Who is reading')"
        )
        say(f"API docs: {base}/docs   health: {base}/health")
        processes = settings.mllp_processes
        listeners = f" ({processes} listener processes)" if processes > 1 else ""
        say(
            f"HL7 v2 over MLLP: {settings.mllp_host}:{settings.mllp_port}{listeners}   "
            "Ctrl-C stops everything"
        )
        while all(child.poll() is None for child in children[1:]):
            time.sleep(1)
            worker.check()
            children[0] = worker.process  # the one _stop stops
        say("a hub process exited; stopping the rest")
        return 1
    except KeyboardInterrupt:
        say("stopping ...")
        return 0
    except (RuntimeError, TimeoutError) as error:
        say(f"failed: {error}")
        return 1
    finally:
        _stop(children)
        if started_broker:
            stop_broker(settings.state_dir)
            say("Kafka stopped")
