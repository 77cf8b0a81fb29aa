"""Several MLLP listener processes behind one port (``HUB_MLLP_PROCESSES``, SO_REUSEPORT, ADR
0042): real ``hub mllp`` processes, real sockets, the real broker."""

from __future__ import annotations

import signal
import sys
from collections.abc import Callable
from pathlib import Path

import hl7
import pytest
from hl7.client import MLLPClient

from hub.events import deterministic_event_id
from hub.settings import Settings
from tests.support.net import accepting_process, free_port, listening
from tests.support.processes import eventually, hub_process
from tests.support.topics import read_case_events

pytestmark = [
    pytest.mark.kafka,
    pytest.mark.skipif(not sys.platform.startswith("linux"), reason="SO_REUSEPORT as on Linux"),
]

S26 = (
    Path(__file__).resolve().parents[1]
    / "golden"
    / "hl7v2"
    / "siu-s26-noshow-start-in-ais.input.hl7"
)


def _message(control_id: str) -> bytes:
    return S26.read_bytes().replace(b"|MFT0006|", f"|{control_id}|".encode())


def _says(log: Path, text: str) -> Callable[[], bool]:
    return lambda: log.exists() and text in log.read_text(errors="replace")


def _ack(client: MLLPClient, raw: bytes) -> tuple[str, str]:
    """MSA-1 and MSA-2 of the reply."""
    reply = client.send_message(raw)
    msa = hl7.parse(reply.decode("latin-1") if isinstance(reply, bytes) else reply).segment("MSA")
    return str(msa(1)), str(msa(2))


def test_two_listener_processes_on_one_port_both_accept_and_ack_durably(
    make_settings: Callable[..., Settings], tmp_path: Path
) -> None:
    settings = make_settings(mllp_port=free_port(), mllp_processes=2)
    port = settings.mllp_port
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    with (
        hub_process("mllp", settings, tmp_path / "a") as first,
        hub_process("mllp", settings, tmp_path / "b") as second,
    ):
        for name in ("a", "b"):  # both bound the one port: neither was refused it
            log = tmp_path / name / "mllp.log"
            eventually(
                _says(log, "one of 2 processes on the port"),
                timeout_s=60,
                what=f"listener {name} listening",
                log=log,
            )
        assert listening(port)
        pids = [first.pid, second.pid]
        served: dict[int, list[str]] = {pid: [] for pid in pids}
        clients: list[MLLPClient] = []
        try:
            # The kernel hashes each connection to one of the sockets: open connections until
            # each process has accepted (and answered) at least one; bounded.
            for n in range(64):
                client = MLLPClient("127.0.0.1", port)
                clients.append(client)
                control_id = f"RP{n:03d}"
                assert _ack(client, _message(control_id)) == ("AA", control_id)
                owner = accepting_process(pids, port, client.socket.getsockname()[1])
                assert owner in served, "the connection's server end is in neither process"
                served[owner].append(control_id)
                if all(served.values()):
                    break
            assert all(served.values()), f"one process accepted every connection: {served}"
            # Each keeps answering on the connections it holds.
            for n, client in enumerate(clients):
                assert _ack(client, _message(f"RQ{n:03d}")) == ("AA", f"RQ{n:03d}")
        finally:
            for client in clients:
                client.close()

        # One process stopping leaves the port served by the other.
        first.send_signal(signal.SIGTERM)
        first.wait(30)
        with MLLPClient("127.0.0.1", port) as client:
            assert _ack(client, _message("RS000")) == ("AA", "RS000")

    # Every AA, from either process, is in the log: one event per accepted message.
    sent = [c for cs in served.values() for c in cs] + [f"RQ{n:03d}" for n in range(len(clients))]
    sent.append("RS000")
    events = read_case_events(settings, expect=len(sent))
    assert sorted(str(e.event_id) for e in events) == sorted(
        str(deterministic_event_id("hl7v2", "MFT", c, "0")) for c in sent
    )
