"""Readiness (``/health/ready``) is narrower than health (``/health``), on purpose.

A load balancer routes senders by readiness. If readiness followed the workers, a stalled or
absent worker would take every API process out of service and turn a projection outage into an
ingest outage, though what senders give us is durable in Kafka without any worker. So: no
worker → ``/health`` 503 (page someone) but ``/health/ready`` 200 (keep taking input); no Kafka →
both 503, since nothing could be acknowledged durably.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from hub.settings import Settings
from tests.e2e.conftest import api_process
from tests.support.net import free_port

pytestmark = pytest.mark.kafka


def test_no_worker_is_unhealthy_but_still_ready(
    make_settings: Callable[..., Settings], tmp_path: Path
) -> None:
    settings = make_settings(api_port=free_port())
    with api_process(settings, tmp_path) as base:
        health = httpx.get(f"{base}/health", timeout=30)
        ready = httpx.get(f"{base}/health/ready", timeout=30)
    assert health.status_code == 503
    assert health.json()["worker_consuming"] is False
    assert ready.status_code == 200
    assert ready.json() == {"kafka_reachable": True, "store_reachable": True, "status": "ok"}


def test_without_kafka_it_is_not_ready(
    make_settings: Callable[..., Settings], tmp_path: Path
) -> None:
    nowhere = f"127.0.0.1:{free_port()}"  # nothing listens there
    settings = make_settings(api_port=free_port()).model_copy(
        update={"kafka_bootstrap_servers": nowhere}
    )
    with api_process(settings, tmp_path) as base:
        ready = httpx.get(f"{base}/health/ready", timeout=30)
    assert ready.status_code == 503
    assert ready.json()["kafka_reachable"] is False
    assert ready.json()["status"] == "unavailable"


def test_an_overdue_waspi_review_is_warned_not_fatal(
    make_settings: Callable[..., Settings], tmp_path: Path
) -> None:
    """A WASPI document past its review date: the API starts, says so on stderr, and /health
    carries it in its details (ADR 0033); the status is the worker's, not the review's."""
    agreement = (Path(__file__).parents[2] / "config" / "sharing" / "agreement.toml").read_text()
    overdue = agreement.replace("review_date = 2027-03-31", "review_date = 2020-03-31")
    assert overdue != agreement
    path = tmp_path / "agreement.toml"
    path.write_text(overdue)
    settings = make_settings(api_port=free_port(), agreement_path=path)
    with api_process(settings, tmp_path) as base:
        health = httpx.get(f"{base}/health", timeout=30)
    assert health.json()["agreement"]["overdue_reviews"] == [
        "flow 'wales-council-service-evaluation': DDA 'Baby and Me Newport: monitoring data DDA' "
        "version 1.0 was due for review on 2020-03-31"
    ]
    assert health.json()["agreement"]["version"] == "2026-12-02.1"
    assert health.status_code == 503  # no worker runs here: the status is the worker's
    log = (tmp_path / "api.log").read_text()
    assert "warning: review overdue: flow 'wales-council-service-evaluation'" in log
