"""GET /metrics against the real broker and real processes (ADR 0018): after a known scenario
the lag, alert, quarantine and dead-letter figures are the expected numbers."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from hub.erasure.keystore import open_key_store
from hub.ingest.sink import CaseEventSink
from hub.kafka.publisher import KafkaPublisher
from hub.settings import Settings
from tests.builders import assigned, missed, registered
from tests.e2e.conftest import api_process, status_of
from tests.support.net import free_port
from tests.support.processes import eventually, hub_process

pytestmark = pytest.mark.kafka

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def scrape(base: str) -> Samples:
    response = httpx.get(f"{base}/metrics", timeout=30)  # no credentials: public (ADR 0018)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain")
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(response.text)
        for sample in family.samples
    }


def total(samples: Samples, name: str, **labels: str) -> float:
    wanted = set(labels.items())
    return sum(value for (n, have), value in samples.items() if n == name and wanted <= have)


def test_metrics_report_lag_alerts_quarantine_and_dead_letters(
    make_settings: Callable[..., Settings], tmp_path: Path
) -> None:
    settings = make_settings(api_port=free_port())
    publisher = KafkaPublisher(settings.bootstrap_servers())
    sink = CaseEventSink(publisher, settings, open_key_store(settings))
    try:
        for event in [registered(), assigned("mw-1"), missed("APT-1"), missed("APT-1")]:
            sink.publish_sync(event)
        publisher.publish_sync(settings.case_events_topic, b"9434765919", b"garbage")
        sink.publish_sync(missed("APT-2"))
        for n in range(3):  # the quarantine topic's size counts records, whatever they hold
            publisher.publish_sync(settings.quarantine_topic, None, f"rejected {n}".encode())
    finally:
        publisher.close()
    case_events = settings.case_events_topic
    with api_process(settings, tmp_path) as base:
        before = scrape(base)
        assert total(before, "hub_kafka_up") == 1
        # No worker yet: the person index has all six entries to apply, the error queue the three
        # refused inputs (ADR 0030), nothing else has any.
        assert total(before, "hub_projection_lag", projection="identity", topic=case_events) == 6
        assert total(before, "hub_projection_lag", projection="error-queue") == 3
        assert total(before, "hub_projection_lag") == 9
        partitions = {
            dict(labels)["partition"]
            for (name, labels) in before
            if name == "hub_projection_lag" and dict(labels)["projection"] == "identity"
        }
        assert partitions == {"0", "1"}  # every partition of the topic is reported
        assert total(before, "hub_quarantined_records") == 3
        assert total(before, "hub_dead_lettered_records") == 0
        assert total(before, "hub_alert_changes_total", change="raised") == 0

        with hub_process("worker", settings, tmp_path):
            eventually(
                lambda: (
                    total(scrape(base), "hub_alert_changes_total", change="raised") == 2
                    and total(scrape(base), "hub_projection_lag") == 0
                ),
                timeout_s=120,
                what="two alerts raised and no lag",
                log=tmp_path / "worker.log",
            )
            eventually(
                lambda: status_of(f"{base}/health") == 200,
                timeout_s=60,
                what="/health 200",
                log=tmp_path / "worker.log",
            )
            after = scrape(base)
            health = httpx.get(f"{base}/health", timeout=30).json()
        assert health["stalled"] == []
    assert total(after, "hub_alert_changes_total", change="raised") == 2
    for change in ("acknowledged", "escalated", "closed", "erased"):
        assert total(after, "hub_alert_changes_total", change=change) == 0
    # The family topic got the five decodable entries; every projection applied all of them.
    family = settings.family_events_topic
    for projection in ("missed_appointment_alerts", "team_around_the_family", "sharing_facts"):
        assert total(after, "hub_projection_lag", projection=projection, topic=family) == 0
    assert total(after, "hub_projection_stalled") == 0
    # The garbage on the case-event topic, and the three records on the quarantine topic that
    # are not quarantine records: the error queue cannot read them, so it dead-letters them.
    assert total(after, "hub_dead_lettered_records") == 4
    # The error queue holds all four as dead letters, by channel, source, reason, status.
    assert total(after, "hub_error_queue_items", channel="dead-letter", status="open") == 4
    assert total(after, "hub_quarantined_records") == 3
    assert total(after, "hub_webhook_failed_attempts_total") == 0
    assert total(after, "hub_webhook_dead_letters") == 0
