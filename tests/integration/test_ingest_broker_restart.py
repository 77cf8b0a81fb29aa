"""The broker stops and comes back while senders keep sending: nothing acknowledged is lost.

Why: a connector answers "accepted" (MLLP ``AA``, HTTP 2xx) only after Kafka confirmed the
write (ADR 0004). While the broker is away a sender must be refused (``AR``, 5xx), keep its
message and resend; once the broker is back, the resend is accepted. Each test runs its own
broker (``temporary_broker``), never the shared session broker, since it stops it.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import hl7
import pytest
from hl7.client import MLLPClient

from hub.events import deterministic_event_id
from hub.kafka_admin import ensure_topics
from hub.kafka_local import LocalBroker, ensure_jars, launch, stop_local, temporary_broker
from hub.settings import Settings
from tests.conftest import cache_dir
from tests.support.net import free_port, listening
from tests.support.processes import eventually, hub_process
from tests.support.topics import read_case_events

pytestmark = pytest.mark.kafka

S26 = (
    Path(__file__).resolve().parents[1]
    / "golden"
    / "hl7v2"
    / "siu-s26-noshow-start-in-ais.input.hl7"
)


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
    acked: list[str] = []
    codes: list[str] = []
    stop = threading.Event()
    restarted: list[LocalBroker] = []

    def send_until_accepted(client: MLLPClient, control_id: str) -> None:
        raw = template.replace(b"|MFT0006|", f"|{control_id}|".encode())
        delay = 0.2
        while True:
            reply = client.send_message(raw)
            text = reply.decode() if isinstance(reply, bytes) else reply
            code = str(hl7.parse(text).segment("MSA")(1))
            codes.append(code)
            if code == "AA":
                acked.append(control_id)
                return
            assert code == "AR", text  # a refusal the sender can retry, nothing else
            time.sleep(delay)  # the sender keeps the message and resends with backoff
            delay = min(delay * 2, 2.0)

    def fault() -> None:
        time.sleep(2)
        restarted.append(_outage(own_broker, down_s=6))
        time.sleep(3)
        stop.set()

    with hub_process("mllp", settings, tmp_path):
        eventually(
            lambda: listening(settings.mllp_port),
            timeout_s=60,
            what="the MLLP listener",
            log=tmp_path / "mllp.log",
        )
        faulter = threading.Thread(target=fault)
        faulter.start()
        try:
            with MLLPClient("127.0.0.1", settings.mllp_port) as client:
                n = 0
                while not stop.is_set():
                    send_until_accepted(client, f"FLT{n:05d}")
                    n += 1
            faulter.join()
            assert "AR" in codes  # the outage was felt by the sender
            events = read_case_events(settings, expect=len(acked))
        finally:
            faulter.join()
            for broker in restarted:  # temporary_broker stops the first one only
                stop_local(broker)
    in_log = {e.event_id for e in events}
    assert len(acked) > 5
    assert {deterministic_event_id("hl7v2", "MFT", c, "0") for c in acked} <= in_log
