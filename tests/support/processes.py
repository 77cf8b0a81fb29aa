"""Run hub processes (worker, API) as real child processes, configured like production."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from hub.settings import Settings


def settings_env(settings: Settings) -> dict[str, str]:
    """The environment that makes a child process build exactly these settings."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("HUB_")}
    env["KAFKA_BOOTSTRAP_SERVERS"] = settings.bootstrap_servers()
    secret = {"kafka_bootstrap_servers", "webhook_secrets", "key_store_url", "key_encryption_key"}
    for name, value in settings.model_dump(exclude=secret).items():
        if value is not None:
            # Lists and mappings are read back as JSON, as an operator writes them.
            text = json.dumps(value) if isinstance(value, list | dict) else str(value)
            env[f"HUB_{name.upper()}"] = text
    env["HUB_WEBHOOK_SECRETS"] = json.dumps(
        {code: value.get_secret_value() for code, value in settings.webhook_secrets.items()}
    )
    env["HUB_DATABASE_URL"] = settings.resolved_database_url()
    env["HUB_KEY_STORE_URL"] = settings.resolved_key_store_url()
    if settings.key_encryption_key is not None:
        env["HUB_KEY_ENCRYPTION_KEY"] = settings.key_encryption_key.get_secret_value()
    return env


def stop(process: subprocess.Popen[bytes], timeout_s: float) -> None:
    """SIGTERM (the hub's processes stop cleanly on it), SIGKILL if still running after
    ``timeout_s``; returns once the process is gone."""
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout_s)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@contextmanager
def hub_process(
    command: str, settings: Settings, log_dir: Path, *, append_to: Path | None = None
) -> Iterator[subprocess.Popen[bytes]]:
    """``python -m hub COMMAND`` for the duration of the block; its output goes to
    ``log_dir/COMMAND.log``, or is appended to ``append_to`` (one log across restarts)."""
    log_path = append_to or log_dir / f"{command}.log"
    with log_path.open("ab" if append_to else "wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "hub", command],
            env=settings_env(settings),
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:
        yield process
    finally:
        stop(process, 30)
        if os.environ.get("HUB_TEST_SHOW_LOGS"):
            print(log_path.read_text(errors="replace"))


def eventually(
    check: Callable[[], bool], *, timeout_s: float, what: str, log: Path | None = None
) -> float:
    """Wait until ``check()`` holds; return the seconds it took, or fail saying what."""
    start = time.monotonic()
    while not check():
        if time.monotonic() - start > timeout_s:
            detail = log.read_text(errors="replace")[-4000:] if log and log.exists() else ""
            raise AssertionError(f"{what} did not happen within {timeout_s} s\n{detail}")
        time.sleep(0.25)
    return time.monotonic() - start
