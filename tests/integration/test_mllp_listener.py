"""The MLLP listener against the real broker, driven by python-hl7's own MLLP client."""

from __future__ import annotations

import socket
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import hl7
import pytest
from hl7.client import MLLPClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hub.settings import Settings
from tests.support.net import free_port, listening
from tests.support.processes import eventually, hub_process
from tests.support.topics import quarantine_read, read_case_events, read_topic

pytestmark = pytest.mark.kafka

GOLDEN = Path(__file__).resolve().parents[1] / "golden" / "hl7v2"


def _send(client: MLLPClient, name: str) -> hl7.Message:
    raw = (GOLDEN / f"{name}.input.hl7").read_bytes()
    reply = client.send_message(raw)
    return hl7.parse(reply.decode("utf-8") if isinstance(reply, bytes) else reply)


def test_acks_on_one_connection_and_the_events_are_in_kafka(
    mllp: tuple[Settings, subprocess.Popen[bytes]],
) -> None:
    settings, _ = mllp
    with MLLPClient("127.0.0.1", settings.mllp_port) as client:
        acks = {
            name: _send(client, name)
            for name in [
                "siu-s12-booked",
                "adt-a31-crlf",
                "siu-s26-noshow-start-in-ais",
                "error-invalid-nhs-number",
                "public-SIU-S26-01",
                "error-not-hl7",
                "siu-s26-noshow-start-in-ais",  # re-sent
            ]
        }
    codes = {name: str(ack.segment("MSA")(1)) for name, ack in acks.items()}
    assert codes == {
        "siu-s12-booked": "AA",
        "adt-a31-crlf": "AA",
        "siu-s26-noshow-start-in-ais": "AA",
        "error-invalid-nhs-number": "AE",
        "public-SIU-S26-01": "AR",
        "error-not-hl7": "AR",
    }
    assert str(acks["siu-s26-noshow-start-in-ais"].segment("MSA")(2)) == "MFT0006"
    assert str(acks["error-invalid-nhs-number"].segment("ERR")(2)) == "PID^1^3"

    # Every AA is in the log: 4 accepted sends (one a re-send with the same event id).
    events = read_case_events(settings, expect=4)
    assert len(events) == 4
    missed = [e for e in events if e.event_type.value == "APPOINTMENT_MISSED"]
    assert len(missed) == 2
    assert missed[0].event_id == missed[1].event_id

    # Every non-AA message is quarantined raw, with its reason.
    refused = [
        quarantine_read(settings).decode(m.value() or b"")
        for m in read_topic(settings.bootstrap_servers(), settings.quarantine_topic, expect=3)
    ]
    assert sorted(r.raw for r in refused) == sorted(
        (GOLDEN / f"{n}.input.hl7").read_bytes()
        for n in ("error-invalid-nhs-number", "public-SIU-S26-01", "error-not-hl7")
    )
    assert all(r.channel == "mllp" and r.reason for r in refused)


def test_unframed_bytes_close_the_connection_but_not_the_listener(
    mllp: tuple[Settings, subprocess.Popen[bytes]],
) -> None:
    settings, process = mllp
    with socket.create_connection(("127.0.0.1", settings.mllp_port), timeout=10) as sock:
        sock.sendall(b"GET / HTTP/1.1\r\n\r\n\x1c\r")
        assert sock.recv(100) == b""  # closed by the listener
    with MLLPClient("127.0.0.1", settings.mllp_port) as client:
        assert str(_send(client, "adt-a31-crlf").segment("MSA")(1)) == "AA"
    assert process.poll() is None


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(st.binary(max_size=300).filter(lambda b: b"\x1c\r" not in b))
def test_any_framed_bytes_get_an_answer_over_the_network(
    mllp: tuple[Settings, subprocess.Popen[bytes]], raw: bytes
) -> None:
    settings, process = mllp
    with MLLPClient("127.0.0.1", settings.mllp_port) as client:
        reply = client.send_message(raw)
    text = reply.decode("latin-1") if isinstance(reply, bytes) else reply
    ack = hl7.parse(text)
    assert ack.segment("MSA")(1)[0] in ("AA", "AE", "AR")
    # 207 is the listener's catch-all for a mapping bug (or a broker that did not confirm,
    # and this one is up): any input must get a named reason instead.
    codes = [str(err(3)(1)(1)) for err in ack if str(err(0)) == "ERR"]
    assert "207" not in codes, text
    assert process.poll() is None


def test_no_broker_means_ar_and_the_sender_keeps_the_message(
    make_settings: Callable[..., Settings], tmp_path: Path
) -> None:
    settings = make_settings(mllp_port=free_port(), publish_timeout_seconds=3).model_copy(
        update={"kafka_bootstrap_servers": f"127.0.0.1:{free_port()}"}
    )
    with hub_process("mllp", settings, tmp_path):
        eventually(
            lambda: listening(settings.mllp_port),
            timeout_s=60,
            what="the MLLP listener",
            log=tmp_path / "mllp.log",
        )
        with MLLPClient("127.0.0.1", settings.mllp_port) as client:
            ack = _send(client, "siu-s26-noshow-start-in-ais")
    assert str(ack.segment("MSA")(1)) == "AR"
    assert str(ack.segment("ERR")(3)(1)(1)) == "207"


@pytest.fixture
def strict_mllp(
    make_settings: Callable[..., Settings], tmp_path: Path, request: pytest.FixtureRequest
) -> Iterator[Settings]:
    """A listener with the overrides the test names (``@pytest.mark.parametrize`` indirect)."""
    settings = make_settings(mllp_port=free_port(), **request.param)
    with hub_process("mllp", settings, tmp_path):
        eventually(
            lambda: listening(settings.mllp_port),
            timeout_s=60,
            what="the MLLP listener",
            log=tmp_path / "mllp.log",
        )
        yield settings


@pytest.mark.parametrize("strict_mllp", [{"mllp_idle_timeout_seconds": 0.5}], indirect=True)
@pytest.mark.parametrize(
    "sent",
    [b"", b"\x0b", b"\x0bMSH|^~\\&|PAS|RXX|HUB|HUB|20260120||ADT^A28|1|P|2.5\r"],
    ids=["nothing", "a start byte", "half a message"],
)
def test_a_connection_that_stops_mid_message_is_closed(strict_mllp: Settings, sent: bytes) -> None:
    with socket.create_connection(("127.0.0.1", strict_mllp.mllp_port), timeout=30) as sock:
        sock.sendall(sent)
        assert sock.recv(1024) == b""  # closed by the listener after its 0.5 s idle timeout


def _served(address: tuple[str, int]) -> MLLPClient:
    """A connection the listener serves (it acknowledged a message on it): the fixture's
    readiness probe may still count against the cap for a moment after it closed."""
    served: list[MLLPClient] = []

    def connect() -> bool:
        client = MLLPClient(*address)
        try:
            _send(client, "siu-s12-booked")
        except (OSError, ValueError):
            client.close()
            return False
        served.append(client)
        return True

    eventually(connect, timeout_s=30, what="a connection the listener serves")
    return served[0]


@pytest.mark.parametrize("strict_mllp", [{"mllp_max_connections_per_address": 2}], indirect=True)
def test_one_address_holds_at_most_its_cap_of_connections(strict_mllp: Settings) -> None:
    address = ("127.0.0.1", strict_mllp.mllp_port)
    held = [_served(address), _served(address)]
    try:
        for _ in range(3):  # each one beyond the cap is closed at once, however often it tries
            with socket.create_connection(address, timeout=30) as extra:
                assert extra.recv(1024) == b""
    finally:
        for client in held:
            client.close()

    def acknowledged() -> bool:
        try:
            with MLLPClient(*address) as client:
                return str(_send(client, "siu-s12-booked").segment("MSA")[1]) == "AA"
        except (OSError, ValueError):  # the listener has not yet seen the held ones close
            return False

    # The cap counts open connections, not ever-opened ones.
    eventually(acknowledged, timeout_s=30, what="an AA once the held connections closed")
