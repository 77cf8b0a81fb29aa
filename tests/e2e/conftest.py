"""Fixtures for end-to-end tests: the API and the worker as real processes."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

from hub.settings import Settings
from tests.support.net import free_port
from tests.support.processes import eventually, hub_process


def reader(
    user: str = "mw-1", organisation: str = "R0A", role: str = "COMMUNITY_MIDWIFE"
) -> dict[str, str]:
    """The identity headers a partner's request carries (interim, until partner auth)."""
    return {"X-Hub-Organisation": organisation, "X-Hub-Role": role, "X-Hub-User": user}


def status_of(url: str) -> int:
    try:
        return httpx.get(url, timeout=10).status_code
    except httpx.HTTPError:
        return 0


@contextmanager
def api_process(settings: Settings, log_dir: Path) -> Iterator[str]:
    """The API as a real process, once it answers; yields its base URL."""
    base = f"http://127.0.0.1:{settings.api_port}"
    with hub_process("api", settings, log_dir):
        eventually(
            lambda: status_of(f"{base}/openapi.json") == 200,
            timeout_s=60,
            what="the API answering",
            log=log_dir / "api.log",
        )
        yield base


@pytest.fixture
def hub(make_settings: Callable[..., Settings], tmp_path: Path) -> Iterator[tuple[Settings, str]]:
    settings = make_settings(api_port=free_port(), default_organisation_code="R0A")
    with api_process(settings, tmp_path) as base:
        # The API is up but no worker consumes yet: /health must say so.
        assert status_of(f"{base}/health") == 503
        with hub_process("worker", settings, tmp_path):
            yield settings, base


def worker_ready_with_midwife(settings: Settings, base: str, log: Path) -> None:
    """Wait for /health, then record the mother's midwife as the maternity system would."""
    from hub.publisher import KafkaPublisher
    from hub.sink import CaseEventSink
    from tests.builders import assigned

    eventually(
        lambda: status_of(f"{base}/health") == 200, timeout_s=90, what="/health 200", log=log
    )
    publisher = KafkaPublisher(settings.bootstrap_servers())
    try:
        CaseEventSink(publisher, settings).publish_sync(assigned("mw-1"))
    finally:
        publisher.close()
