"""The broker stops and comes back while senders keep sending: nothing acknowledged is lost.

Why: a connector answers "accepted" (MLLP ``AA``, HTTP 2xx) only after Kafka confirmed the
write (ADR 0004). While the broker is away a sender must be refused (``AR``, 5xx), keep its
message and resend; once the broker is back, the resend is accepted. Each test runs its own
broker (``temporary_broker``), never the shared session broker, since it stops it.
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import hl7
import httpx
import pytest
from hl7.client import MLLPClient

from hub.events import deterministic_event_id
from hub.kafka.admin import ensure_topics
from hub.kafka.local import LocalBroker, ensure_jars, launch, stop_local, temporary_broker
from hub.settings import Settings
from tests.conftest import cache_dir
from tests.e2e.conftest import api_process, sender
from tests.e2e.test_partner_ingest import MISSED, PARTNER, SECRET, SESSION
from tests.e2e.test_partner_ingest import send as send_webhook
from tests.support.net import free_port, listening
from tests.support.processes import eventually, hub_process
from tests.support.topics import read_case_events

pytestmark = pytest.mark.kafka

GOLDEN = Path(__file__).resolve().parents[1] / "golden"
S26 = GOLDEN / "hl7v2" / "siu-s26-noshow-start-in-ais.input.hl7"
APPOINTMENT = GOLDEN / "fhir_appointment" / "uk-core-noshow.input.json"


@pytest.fixture
def own_broker(tmp_path: Path) -> Iterator[LocalBroker]:
    with temporary_broker(cache_dir(), tmp_path / "kafka") as broker:
        yield broker


def _outage(broker: LocalBroker, down_s: float) -> LocalBroker:
    """Stop the broker, keep it down for ``down_s``, start it again on the same port and data."""
    stop_local(broker)
    time.sleep(down_s)
    port = int(broker.bootstrap_servers.rpartition(":")[2])
    return launch(ensure_jars(cache_dir() / "kafka-jars"), broker.home, port)


Send = Callable[[int], str | None]  # message n -> its event id if accepted, None if refused


def _send_through_an_outage(broker: LocalBroker, send: Send) -> tuple[list[str], int, LocalBroker]:
    """Send messages 0, 1, ... one after another while the broker stops and restarts; each
    refused message is resent with backoff until accepted, as a sender that keeps it would.
    Returns the accepted event ids, the number of refusals, and the restarted broker."""
    accepted: list[str] = []
    refusals = 0
    restarted: list[LocalBroker] = []
    stop = threading.Event()

    def fault() -> None:
        try:
            time.sleep(2)
            restarted.append(_outage(broker, down_s=6))
            time.sleep(3)  # and some sends after it is back
        finally:
            stop.set()

    faulter = threading.Thread(target=fault)
    faulter.start()
    try:
        n = 0
        while not stop.is_set():
            delay = 0.2
            while (event_id := send(n)) is None:
                refusals += 1
                time.sleep(delay)
                delay = min(delay * 2, 2.0)
            accepted.append(event_id)
            n += 1
    finally:
        faulter.join()
    if not restarted:
        raise AssertionError("the broker did not restart")
    return accepted, refusals, restarted[0]


def _assert_all_accepted_in_the_log(settings: Settings, accepted: list[str], refusals: int) -> None:
    assert refusals > 0  # the outage was felt by the sender
    assert len(accepted) > 5
    in_log = {str(e.event_id) for e in read_case_events(settings, expect=len(accepted))}
    assert set(accepted) <= in_log


def test_mllp_senders_get_ar_while_the_broker_is_down_and_every_aa_is_in_the_log(
    make_settings: Callable[..., Settings], own_broker: LocalBroker, tmp_path: Path
) -> None:
    settings = make_settings(
        kafka_bootstrap_servers=own_broker.bootstrap_servers,
        mllp_port=free_port(),
        publish_timeout_seconds=3,
    )
    ensure_topics(settings)
    template = S26.read_bytes()

    with (
        hub_process("mllp", settings, tmp_path),
        MLLPClient("127.0.0.1", _listening(settings, tmp_path)) as client,
    ):

        def send(n: int) -> str | None:
            control_id = f"FLT{n:05d}"
            reply = client.send_message(template.replace(b"|MFT0006|", f"|{control_id}|".encode()))
            text = reply.decode() if isinstance(reply, bytes) else reply
            code = str(hl7.parse(text).segment("MSA")(1))
            assert code in ("AA", "AR"), text  # AR: a refusal the sender can retry
            event_id = deterministic_event_id("hl7v2", "MFT", control_id, "0")
            return str(event_id) if code == "AA" else None

        accepted, refusals, restarted = _send_through_an_outage(own_broker, send)
        try:
            _assert_all_accepted_in_the_log(settings, accepted, refusals)
        finally:
            stop_local(restarted)  # temporary_broker stops the first process only


def test_fhir_senders_get_503_while_the_broker_is_down_and_every_2xx_is_in_the_log(
    make_settings: Callable[..., Settings], own_broker: LocalBroker, tmp_path: Path
) -> None:
    settings = make_settings(
        kafka_bootstrap_servers=own_broker.bootstrap_servers,
        api_port=free_port(),
        publish_timeout_seconds=3,
    )
    ensure_topics(settings)
    appointment = json.loads(APPOINTMENT.read_bytes())

    with api_process(settings, tmp_path) as base, httpx.Client(timeout=30) as http:

        def send(n: int) -> str | None:
            body = {**appointment, "id": f"flt-{n}-{uuid.uuid4().hex[:6]}"}
            response = http.post(
                f"{base}/fhir/Appointment",
                content=json.dumps(body),
                headers={"Content-Type": "application/fhir+json", **sender()},
            )
            assert response.status_code in (201, 503), response.text
            return response.headers["X-Hub-Event-Id"] if response.status_code == 201 else None

        accepted, refusals, restarted = _send_through_an_outage(own_broker, send)
        try:
            _assert_all_accepted_in_the_log(settings, accepted, refusals)
        finally:
            stop_local(restarted)


def test_partner_webhooks_get_503_while_the_broker_is_down_and_every_202_is_in_the_log(
    make_settings: Callable[..., Settings], own_broker: LocalBroker, tmp_path: Path
) -> None:
    settings = make_settings(
        kafka_bootstrap_servers=own_broker.bootstrap_servers,
        api_port=free_port(),
        publish_timeout_seconds=3,
        webhook_secrets={PARTNER: SECRET},
    )
    ensure_topics(settings)
    run = uuid.uuid4().hex[:6]

    with api_process(settings, tmp_path) as base:

        def send(n: int) -> str | None:
            # A resend is the same delivery: same webhook-id, same payload (Standard Webhooks).
            payload = {**MISSED, "data": {**SESSION, "session_id": f"GRP-{run}-{n}"}}
            response = send_webhook(base, payload, message_id=f"msg_{run}_{n}")
            assert response.status_code in (202, 503), response.text
            if response.status_code == 503:
                return None
            assert "duplicate" not in response.json()  # a refused delivery was not remembered
            [event_id] = response.json()["event_ids"]
            return str(event_id)

        accepted, refusals, restarted = _send_through_an_outage(own_broker, send)
        try:
            _assert_all_accepted_in_the_log(settings, accepted, refusals)
        finally:
            stop_local(restarted)


def _listening(settings: Settings, log_dir: Path) -> int:
    eventually(
        lambda: listening(settings.mllp_port),
        timeout_s=60,
        what="the MLLP listener",
        log=log_dir / "mllp.log",
    )
    return settings.mllp_port
