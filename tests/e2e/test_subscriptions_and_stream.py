"""Webhook subscription routes and the Server-Sent Events stream, over real HTTP (ADR 0016).

The API and the worker run as real processes on the real broker. Subscriptions belong to the
client that made them (another organisation's is 404); the secret is shown once. The stream
sends a midwife each change of an alert addressed to her, gated and on record, with the feed's
``seq`` as the event id that ``Last-Event-ID`` resumes from.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx

from hub.erasure.keystore import open_key_store
from hub.ingest.sink import CaseEventSink
from hub.kafka.publisher import KafkaPublisher
from hub.settings import Settings
from hub.storage.engine import make_engine
from hub.subscriptions.store import SubscriptionStore
from tests.builders import NHS_NUMBER, missed
from tests.e2e.conftest import reader, worker_ready_with_midwife
from tests.support.topics import disclosures_read, read_topic

MIDWIFE = reader("mw-1", "R0A", "COMMUNITY_MIDWIFE")
OTHER_ORG = reader("mw-1", "RM3", "COMMUNITY_MIDWIFE")  # same user name, another organisation


def test_subscribe_list_dead_letters_replay_delete(hub: tuple[Settings, str]) -> None:
    settings, base = hub
    url = f"{base}/subscriptions"
    assert httpx.post(url, json={"url": "https://example.org/hooks"}).status_code == 401

    refused = httpx.post(url, headers=MIDWIFE, json={"url": "ftp://example.org/hooks"})
    assert refused.status_code == 422
    assert "scheme" in json.dumps(refused.json()["detail"])

    # Not into the hub's own network (SSRF): only public addresses and the networks the
    # operator allowed (these tests allow 127.0.0.0/8 for their receivers).
    for inside in ("http://169.254.169.254/latest/meta-data", "http://10.0.0.7:5432/"):
        ssrf = httpx.post(url, headers=MIDWIFE, json={"url": inside})
        assert ssrf.status_code == 422, ssrf.text
        [problem] = ssrf.json()["detail"]  # a 422 names the field, as validation does
        assert problem["loc"] == ["body", "url"]
        assert "not a public address" in problem["msg"]

    created = httpx.post(
        url, headers=MIDWIFE, json={"url": "http://127.0.0.1:9/hooks", "description": "EPR"}
    )
    assert created.status_code == 201, created.text
    body = created.json()
    sid = body["subscription_id"]
    assert body["secret"].startswith("whsec_")
    assert (body["organisation_code"], body["user_id"]) == ("R0A", "mw-1")

    [listed] = httpx.get(url, headers=MIDWIFE).json()
    assert listed["subscription_id"] == sid
    assert "secret" not in listed  # shown once only
    assert httpx.get(url, headers=OTHER_ORG).json() == []

    for method, path in [
        ("GET", f"/subscriptions/{sid}/dead-letters"),
        ("POST", f"/subscriptions/{sid}/dead-letters/replay"),
        ("DELETE", f"/subscriptions/{sid}"),
    ]:
        other = httpx.request(method, f"{base}{path}", headers=OTHER_ORG)
        assert other.status_code == 404, (method, path, other.text)

    assert httpx.get(f"{url}/{sid}/dead-letters", headers=MIDWIFE).json() == []
    replay = httpx.post(f"{url}/{sid}/dead-letters/replay", headers=MIDWIFE)
    assert replay.status_code == 202
    assert replay.json() == {"subscription_id": sid, "replaying": 0}
    assert httpx.get(f"{url}/sub_nope/dead-letters", headers=MIDWIFE).status_code == 404

    assert httpx.delete(f"{url}/{sid}", headers=MIDWIFE).status_code == 204
    [deleted] = httpx.get(url, headers=MIDWIFE).json()
    assert deleted["disabled_at"] is not None
    engine = make_engine(settings.resolved_database_url())
    try:
        assert (
            SubscriptionStore(engine, settings.key_wrapper()).active() == []
        )  # nothing more is delivered
    finally:
        engine.dispose()


def _events(lines: Any, count: int) -> list[dict[str, str]]:
    """Read ``count`` Server-Sent Events (field -> value) from an iterator of lines."""
    events: list[dict[str, str]] = []
    current: dict[str, str] = {}
    for line in lines:
        if line == "":
            if "data" in current:
                events.append(current)
                if len(events) == count:
                    return events
            current = {}
        elif not line.startswith(":"):
            name, _, value = line.partition(": ")
            current[name] = value
    return events


def test_the_stream_sends_the_gated_change_and_resumes(
    hub: tuple[Settings, str], tmp_path: Path
) -> None:
    settings, base = hub
    worker_ready_with_midwife(settings, base, tmp_path / "worker.log")
    url = f"{base}/practitioners/mw-1/alerts/stream"
    assert httpx.get(url).status_code == 401
    as_other = httpx.get(f"{base}/practitioners/mw-2/alerts/stream", headers=MIDWIFE, timeout=10)
    assert as_other.status_code == 403

    publisher = KafkaPublisher(settings.bootstrap_servers())
    try:
        with (
            httpx.Client(timeout=httpx.Timeout(10, read=90)) as client,
            client.stream("GET", url, headers=MIDWIFE) as response,
        ):
            assert response.status_code == 200
            assert response.headers["content-type"].startswith("text/event-stream")
            lines = response.iter_lines()
            assert next(lines).startswith("retry: ")  # connected: changes from now on
            CaseEventSink(publisher, settings, open_key_store(settings)).publish_sync(
                missed("APT-16W")
            )
            [event] = _events(lines, 1)
    finally:
        publisher.close()
    assert event["event"] == "alert.raised"
    data = json.loads(event["data"])
    assert data["data"]["sequence"] == int(event["id"])
    alert = data["data"]["alert"]
    assert alert["appointment"]["appointment_id"] == "APT-16W"
    assert alert["person"]["nhs_number"] == NHS_NUMBER  # the policy lets her midwife see it

    # Reconnecting with Last-Event-ID just before it sends it again (and only from there).
    resume = {**MIDWIFE, "Last-Event-ID": str(int(event["id"]) - 1)}
    with (
        httpx.Client(timeout=httpx.Timeout(10, read=60)) as client,
        client.stream("GET", url, headers=resume) as response,
    ):
        [again] = _events(response.iter_lines(), 1)
    assert again["id"] == event["id"]

    codec = disclosures_read(settings)
    records = [
        codec.decode(m.value() or b"")
        for m in read_topic(settings.bootstrap_servers(), settings.disclosures_topic, expect=2)
    ]
    streamed = [d for d in records if d.channel == "ALERT" and d.recipient_user == "mw-1"]
    assert len(streamed) == 2  # each push on record
    assert all(d.items for d in streamed)
