"""Input too large for one Kafka record is refused for good, and kept (issue 17, point 4).

Before, the produce attempt failed and every channel answered "send again later" (HL7 AR with
ERR 207, HTTP 503) on every resend, and nothing was quarantined. Now the size is decided before
producing: HL7 AE with ERR-3 102, FHIR 422 with an OperationOutcome; the raw input is in
quarantine in parts that join back to it, and a resend gets the same answer.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import hl7
import pytest
from hl7.client import MLLPClient

from hub.ingest.record_limits import joined
from hub.quarantine import QuarantineRecord
from hub.settings import Settings
from tests.support.topics import quarantine_read, read_topic

pytestmark = pytest.mark.kafka

GOLDEN = Path(__file__).resolve().parents[1] / "golden" / "hl7v2"
HUGE = "Q" * (2 * 1024 * 1024)  # a 2 MB name


def quarantined(settings: Settings, expect: int) -> list[QuarantineRecord]:
    messages = read_topic(settings.bootstrap_servers(), settings.quarantine_topic, expect=expect)
    codec = quarantine_read(settings)
    return [codec.decode(m.value() or b"") for m in messages]


def test_an_hl7_message_too_large_is_refused_with_ae_every_time_and_kept(
    mllp: tuple[Settings, subprocess.Popen[bytes]],
) -> None:
    settings, _ = mllp
    raw = (
        (GOLDEN / "adt-a31-crlf.input.hl7")
        .read_bytes()
        .replace(b"EXAMPLE^Amy", f"{HUGE}^Amy".encode())
    )
    with MLLPClient("127.0.0.1", settings.mllp_port) as client:
        for _ in range(2):  # the resend gets the same answer: nothing to wait for
            reply = client.send_message(raw)
            ack = hl7.parse(reply.decode("utf-8") if isinstance(reply, bytes) else reply)
            assert str(ack.segment("MSA")[1]) == "AE"
            assert str(ack.segment("ERR")[3][0][0]) == "102"
            assert "at most 1,000,000 bytes" in str(ack.segment("ERR")[8])
    parts = quarantined(settings, expect=5)
    assert all(p.channel == "mllp" for p in parts)
    assert len(parts) % 5 == 0  # 2 MB in 512 KiB parts, once per send
    first = {p.quarantine_id: p for p in parts}.values()  # the resend has the same ids
    assert joined(list(first)) == raw
