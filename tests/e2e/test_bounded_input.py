"""Bounded input and bounded waits at the real API process, as an attacker would probe them.

One ``hub api`` process with small limits (so a test sends kilobytes, not megabytes) and a
short header deadline; a second one with a connection cap of 3. Bodies are sent over raw
sockets, so the test controls exactly what is declared and what is sent: a ``Content-Length``
over the limit is answered before any of the body is sent, a chunked body is answered once it
passes the limit while the attacker is still sending, and a body of exactly the limit gets the
route's own answer.
"""

from __future__ import annotations

import json
import select
import socket
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from hub.kafka.admin import ensure_topics
from hub.settings import Settings
from tests.e2e.conftest import api_process, reader, sender
from tests.support.net import free_port
from tests.support.processes import eventually

pytestmark = pytest.mark.kafka

PARTNER = "VCS-HOMESTART-SALFORD"
SECRET = "whsec_dGhpcnR5LXR3byBieXRlcyBvZiB0ZXN0IHNlY3JldCE="
LIMITS = {
    "body_limit_fhir_resource_bytes": 4096,
    "body_limit_fhir_bundle_bytes": 8192,
    "body_limit_webhook_bytes": 2048,
    "upload_max_bytes": 3072,
    "body_limit_token_bytes": 1536,
    "body_limit_bytes": 1024,
}
PATIENT = Path(__file__).resolve().parents[1] / "golden" / "fhir_resources"
FHIR = {"Content-Type": "application/fhir+json", **sender()}
STAFF = reader(user="hs-admin", organisation=PARTNER, role="KEY_WORKER")
MIDWIFE = reader()


def _settings(kafka: str, state: Path, **overrides: object) -> Settings:
    suffix = uuid.uuid4().hex[:8]
    settings = Settings.model_validate(
        {
            "kafka_bootstrap_servers": kafka,
            "state_dir": state,
            "case_events_topic": f"test.case-events.{suffix}",
            "quarantine_topic": f"test.quarantine.{suffix}",
            "disclosures_topic": f"test.disclosures.{suffix}",
            "topic_partitions": 1,
            "webhook_secrets": {PARTNER: SECRET},
            "api_port": free_port(),
            **overrides,
        }
    )
    ensure_topics(settings)
    return settings


@pytest.fixture(scope="module")
def api(kafka_bootstrap: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[int]:
    state = tmp_path_factory.mktemp("bounded-input")
    settings = _settings(kafka_bootstrap, state, http_header_timeout_seconds=1.0, **LIMITS)
    with api_process(settings, state):
        yield settings.api_port


@dataclass(frozen=True)
class Route:
    """A route class as an attacker meets it: where, with which headers, and its limit."""

    name: str
    method: str
    path: str
    headers: dict[str, str]
    limit: int
    fits: Callable[[int], bytes]  # a body of exactly n bytes
    answer: int  # what a body of exactly the limit gets (the route's own answer)


def _padded(text: str, size: int) -> bytes:
    """``text`` with trailing spaces to ``size`` bytes (JSON, CSV and forms all allow it)."""
    raw = text.encode()
    assert len(raw) <= size
    return raw + b" " * (size - len(raw))


def _patient(size: int) -> bytes:
    return _padded((PATIENT / "uk-core-patient.input.json").read_text(), size)


def _bundle(size: int) -> bytes:
    bundle = {"resourceType": "Bundle", "type": "batch", "entry": []}
    return _padded(json.dumps(bundle), size)


ROUTES = [
    Route("FHIR create", "POST", "/fhir/Patient", FHIR, 4096, _patient, 201),
    Route("FHIR update", "PUT", "/fhir/Patient/amy-example", FHIR, 4096, _patient, 200),
    Route("FHIR Bundle", "POST", "/fhir", FHIR, 8192, _bundle, 200),
    Route(
        "partner webhook, unauthenticated",
        "POST",
        f"/partners/{PARTNER}/webhooks",
        {"Content-Type": "application/json"},
        2048,
        lambda n: _padded("{}", n),
        401,  # read in full, then found unsigned
    ),
    Route(
        "CSV upload",
        "POST",
        f"/partners/{PARTNER}/uploads",
        {"Content-Type": "text/csv", **STAFF},
        3072,
        lambda n: _padded("a,b\n1,2\n", n),
        422,  # read in full, then its columns refused
    ),
    Route(
        "token, unauthenticated",
        "POST",
        "/oauth2/token",
        {"Content-Type": "application/x-www-form-urlencoded"},
        1536,
        lambda n: _padded("grant_type=client_credentials&client_assertion=x", n),
        400,
    ),
    Route(
        "any other route",
        "POST",
        "/sharing/consents",
        {"Content-Type": "application/json", **MIDWIFE},
        1024,
        lambda n: _padded("{}", n),
        422,
    ),
]
IDS = [route.name for route in ROUTES]


def _head(route: Route, framing: str) -> bytes:
    lines = [f"{route.method} {route.path} HTTP/1.1", "Host: hub.test", framing]
    lines += [f"{name}: {value}" for name, value in route.headers.items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def _response(sock: socket.socket) -> tuple[int, bytes]:
    """Status and body of the one response on ``sock`` (the server closes after a 413)."""
    data = b""
    while b"\r\n\r\n" not in data or not _complete(data):
        chunk = sock.recv(65536)
        if not chunk:
            break
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    return int(head.split(b" ", 2)[1]), body


def _complete(data: bytes) -> bool:
    head, _, body = data.partition(b"\r\n\r\n")
    for line in head.split(b"\r\n"):
        if line.lower().startswith(b"content-length:"):
            return len(body) >= int(line.split(b":", 1)[1])
    return False


def _connect(port: int) -> socket.socket:
    return socket.create_connection(("127.0.0.1", port), timeout=30)


def _chunk(data: bytes) -> bytes:
    return f"{len(data):x}\r\n".encode() + data + b"\r\n"


@pytest.mark.parametrize("route", ROUTES, ids=IDS)
def test_a_declared_length_over_the_limit_is_refused_before_the_body_is_sent(
    api: int, route: Route
) -> None:
    with _connect(api) as sock:
        sock.sendall(_head(route, f"Content-Length: {route.limit + 1}"))
        status, body = _response(sock)  # not one byte of the body was sent
    assert status == 413
    assert f"limit of {route.limit} bytes".encode() in body


@pytest.mark.parametrize("route", ROUTES, ids=IDS)
def test_a_chunked_body_is_counted_as_it_streams(api: int, route: Route) -> None:
    body = route.fits(route.limit + 1)
    with _connect(api) as sock:
        sock.sendall(_head(route, "Transfer-Encoding: chunked"))
        for start in range(0, len(body), 512):
            sock.sendall(_chunk(body[start : start + 512]))
        status, answer = _response(sock)  # no last chunk: the body never ended
    assert status == 413
    assert f"limit of {route.limit} bytes".encode() in answer


@pytest.mark.parametrize("framing", ["length", "chunked"])
@pytest.mark.parametrize("route", ROUTES, ids=IDS)
def test_a_body_of_exactly_the_limit_is_read(api: int, route: Route, framing: str) -> None:
    body = route.fits(route.limit)
    with _connect(api) as sock:
        if framing == "length":
            sock.sendall(_head(route, f"Content-Length: {len(body)}") + body)
        else:
            half = len(body) // 2
            chunks = _chunk(body[:half]) + _chunk(body[half:]) + b"0\r\n\r\n"
            sock.sendall(_head(route, "Transfer-Encoding: chunked") + chunks)
        status, answer = _response(sock)
    assert status == route.answer, answer


def test_a_huge_unauthenticated_body_is_refused_while_it_is_still_being_sent(api: int) -> None:
    """50 MB streamed to the webhook route, which anyone can reach: the 413 comes back after
    about its 2 KB limit, while the attacker still has almost all of it to send."""
    webhook = ROUTES[3]
    total, sent = 50 * 1024 * 1024, 0
    piece = _chunk(b"x" * 16384)
    with _connect(api) as sock:
        sock.sendall(_head(webhook, "Transfer-Encoding: chunked"))
        sock.settimeout(5)
        while sent < total and not select.select([sock], [], [], 0)[0]:
            try:
                sock.sendall(piece)
            except (TimeoutError, ConnectionError):
                break  # the server stopped reading
            sent += len(piece)
        sock.settimeout(30)
        status, _ = _response(sock)
    assert status == 413
    assert sent < total / 10


@pytest.mark.parametrize(
    ("content_type", "status"),
    [
        ("application/fhir+json", 201),
        ("application/fhir+json; charset=utf-8", 201),
        ("application/json", 201),
        ("Application/JSON;charset=UTF-8", 201),
        ("text/plain", 415),
        ("application/fhir+xml", 415),
        ("application/xml", 415),
        ("application/x-www-form-urlencoded", 415),
        ("multipart/form-data; boundary=x", 415),
        ("application/fhir+jsonx", 415),
        ("", 415),
        (None, 415),
    ],
)
def test_fhir_ingest_takes_json_only(api: int, content_type: str | None, status: int) -> None:
    headers = dict(sender())
    if content_type is not None:
        headers["Content-Type"] = content_type
    body = (PATIENT / "uk-core-patient.input.json").read_bytes()
    answer = httpx.post(f"http://127.0.0.1:{api}/fhir/Patient", content=body, headers=headers)
    assert answer.status_code == status, answer.text
    bundle = httpx.post(f"http://127.0.0.1:{api}/fhir", content=_bundle(100), headers=headers)
    assert bundle.status_code == (200 if status == 201 else 415), bundle.text
    if status == 415:
        for refused in (answer, bundle):
            outcome = refused.json()
            assert outcome["resourceType"] == "OperationOutcome"
            assert "application/fhir+json or application/json" in outcome["issue"][0]["diagnostics"]


@pytest.mark.parametrize(
    "sent", [b"", b"P", b"POST /fhir/Patient HTTP/1.1\r\nHost: hub.test\r\nContent-Le"]
)
def test_a_connection_that_never_finishes_its_headers_is_closed(api: int, sent: bytes) -> None:
    with _connect(api) as sock:
        sock.sendall(sent)
        assert sock.recv(1024) == b""  # closed by the server after its 1 s header deadline


def test_a_keep_alive_connection_that_starts_a_request_and_stops_is_closed(api: int) -> None:
    with _connect(api) as sock:
        sock.sendall(b"GET /openapi.json HTTP/1.1\r\nHost: hub.test\r\n\r\n")
        status, _ = _response(sock)
        assert status == 200
        sock.sendall(b"GET /openapi.json HTTP/1.1\r\nHo")
        assert sock.recv(1024) == b""


@pytest.fixture(scope="module")
def capped(kafka_bootstrap: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[int]:
    state = tmp_path_factory.mktemp("capped")
    settings = _settings(kafka_bootstrap, state, http_max_connections=3)
    with api_process(settings, state):
        yield settings.api_port


def test_connections_beyond_the_cap_are_answered_503(capped: int) -> None:
    url = f"http://127.0.0.1:{capped}/openapi.json"
    held = [_connect(capped) for _ in range(3)]
    try:
        assert httpx.get(url, timeout=30).status_code == 503
    finally:
        for sock in held:
            sock.close()
    # Once they are closed, a request is served again.
    eventually(lambda: httpx.get(url, timeout=30).status_code == 200, timeout_s=30, what="200")
