"""A charity's signed webhooks and CSV uploads, through the real API process into the broker."""

from __future__ import annotations

import base64
import json
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from standardwebhooks.webhooks import Webhook

from hub.quarantine import QuarantineRecord
from hub.settings import Settings
from tests.e2e.conftest import api_process, reader
from tests.support.net import free_port
from tests.support.topics import quarantine_read, read_case_events, read_topic

pytestmark = pytest.mark.kafka

PARTNER = "VCS-HOMESTART-SALFORD"
SECRET = "whsec_" + base64.b64encode(b"a test secret of thirty-two bytes").decode()
GOLDEN = Path(__file__).resolve().parents[1] / "golden" / "connectors" / "voluntary-activity"
SESSION: dict[str, object] = {
    "record_id": "LP-501",
    "nhs_number": "9434765919",
    "programme": "Baby and Me",
    "session_id": "GRP-2026-01-20",
    "session_start": "2026-01-20T10:00:00",
    "worker_id": "HS-W-3",
}
MISSED = {"type": "session_missed", "timestamp": "2026-01-20T10:30:00Z", "data": SESSION}


@pytest.fixture
def api(make_settings: Callable[..., Settings], tmp_path: Path) -> Iterator[tuple[Settings, str]]:
    settings = make_settings(api_port=free_port(), webhook_secrets={PARTNER: SECRET})
    with api_process(settings, tmp_path) as base:
        yield settings, base


def send(
    base: str,
    payload: object,
    *,
    message_id: str | None = None,
    at: datetime | None = None,
    secret: str = SECRET,
    partner: str = PARTNER,
) -> httpx.Response:
    body = json.dumps(payload)
    message_id = message_id or f"msg_{uuid.uuid4().hex}"
    at = at or datetime.now(UTC)
    headers = {
        "webhook-id": message_id,
        "webhook-timestamp": str(int(at.timestamp())),
        "webhook-signature": Webhook(secret).sign(message_id, at, body),
        "content-type": "application/json",
    }
    return httpx.post(f"{base}/partners/{partner}/webhooks", content=body, headers=headers)


def test_signed_webhooks(api: tuple[Settings, str]) -> None:
    settings, base = api
    accepted = send(base, MISSED, message_id="msg_1")
    assert accepted.status_code == 202, accepted.text
    replayed = send(base, MISSED, message_id="msg_1")
    assert replayed.status_code == 202
    assert replayed.json()["duplicate"] is True

    other_secret = "whsec_" + base64.b64encode(b"not the partner's secret at all!").decode()
    assert send(base, MISSED, secret=other_secret).status_code == 401
    assert send(base, MISSED, at=datetime.now(UTC) - timedelta(minutes=10)).status_code == 401
    unsigned = httpx.post(f"{base}/partners/{PARTNER}/webhooks", json=MISSED)
    assert unsigned.status_code == 401
    assert send(base, MISSED, partner="NOBODY").status_code == 404

    bad = {
        **MISSED,
        "type": "assessment_score",
        "data": {
            **SESSION,
            "record_id": "LP-9",
            "instrument": "WEMWBS",
            "score": 90,
            "occurred_on": "2026-01-20",
        },
    }
    refused = send(base, bad)
    assert refused.status_code == 422
    assert refused.json()["errors"] == [{"field": "score", "message": "90 is outside 14..70"}]

    [event] = read_case_events(settings, expect=1)  # the replay published nothing
    assert str(event.event_id) == accepted.json()["event_ids"][0]
    assert event.event_type == "APPOINTMENT_MISSED"
    assert event.source.organisation_code == PARTNER
    [message] = read_topic(settings.bootstrap_servers(), settings.quarantine_topic, expect=1)
    record = quarantine_read(settings).decode(message.value() or b"")
    assert isinstance(record, QuarantineRecord)
    assert json.loads(record.raw) == bad
    assert record.channel == "webhook"


def _headers(body: str, *, secret: str = SECRET, at: datetime | None = None) -> dict[str, str]:
    message_id = f"msg_{uuid.uuid4().hex}"
    at = at or datetime.now(UTC)
    return {
        "webhook-id": message_id,
        "webhook-timestamp": str(int(at.timestamp())),
        "webhook-signature": Webhook(secret).sign(message_id, at, body),
        "content-type": "application/json",
    }


def _without(name: str) -> Callable[[dict[str, str]], dict[str, str]]:
    return lambda headers: {k: v for k, v in headers.items() if k != name}


def _with(name: str, value: str) -> Callable[[dict[str, str]], dict[str, str]]:
    return lambda headers: {**headers, name: value}


OTHER_SECRET = "whsec_" + base64.b64encode(b"not the partner's secret at all!").decode()
BODY = json.dumps(MISSED)
# (case, body sent, headers from the correctly signed ones, detail fragment). Every one is
# refused with 401 and publishes and quarantines nothing: it is not the partner speaking.
UNVERIFIED: list[tuple[str, bytes, Callable[[dict[str, str]], dict[str, str]], str]] = [
    ("wrong secret", BODY.encode(), lambda h: _headers(BODY, secret=OTHER_SECRET), "signature"),
    ("body changed after signing", BODY.replace("LP-501", "LP-502").encode(), dict, "signature"),
    ("no webhook-id", BODY.encode(), _without("webhook-id"), "Missing required headers"),
    ("no timestamp", BODY.encode(), _without("webhook-timestamp"), "Missing required headers"),
    ("no signature", BODY.encode(), _without("webhook-signature"), "Missing required headers"),
    (
        "ten minutes old",
        BODY.encode(),
        lambda h: _headers(BODY, at=datetime.now(UTC) - timedelta(minutes=10)),
        "too old",
    ),
    (
        "ten minutes ahead",
        BODY.encode(),
        lambda h: _headers(BODY, at=datetime.now(UTC) + timedelta(minutes=10)),
        "too new",
    ),
    (
        "timestamp not a number",
        BODY.encode(),
        _with("webhook-timestamp", "soon"),
        "Invalid Signature",
    ),
    ("signature without version", BODY.encode(), _with("webhook-signature", "abc"), "malformed"),
    ("signature not base64", BODY.encode(), _with("webhook-signature", "v1,abc"), "malformed"),
    ("only another version", BODY.encode(), _with("webhook-signature", "v2,YWJj"), "signature"),
    ("body not UTF-8", b"\xff" + BODY.encode(), dict, "not UTF-8"),
]


def test_unverified_webhooks_are_refused_and_publish_nothing(api: tuple[Settings, str]) -> None:
    settings, base = api
    url = f"{base}/partners/{PARTNER}/webhooks"
    for case, body, headers, fragment in UNVERIFIED:
        answer = httpx.post(url, content=body, headers=headers(_headers(BODY)))
        assert answer.status_code == 401, (case, answer.text)
        assert answer.json()["detail"].startswith("webhook not verified"), case
        assert fragment in answer.json()["detail"], (case, answer.json())

    # Signed by the partner but not a JSON object: refused naming the missing fields (422) and
    # quarantined, like any wrong content; a JSON parser's recursion limit is no 500.
    for text in ("not json", "[" * 100_000):
        refused = httpx.post(url, content=text, headers=_headers(text))
        assert refused.status_code == 422, refused.text
        assert {"field": "record_id", "message": "is required"} in refused.json()["errors"]

    long_id = {**_headers(BODY), "webhook-id": "m" * 201}
    long_id["webhook-signature"] = Webhook(SECRET).sign(
        long_id["webhook-id"], datetime.fromtimestamp(int(long_id["webhook-timestamp"]), UTC), BODY
    )
    too_long = httpx.post(url, content=BODY, headers=long_id)
    assert too_long.status_code == 400, too_long.text
    assert "longer than 200" in too_long.json()["detail"]

    first = _headers(BODY)
    assert httpx.post(url, content=BODY, headers=first).status_code == 202
    replayed = httpx.post(url, content=BODY, headers=first)  # the same webhook-id again
    assert replayed.status_code == 202
    assert replayed.json() == {"webhook_id": first["webhook-id"], "duplicate": True}

    # Only the one accepted delivery reached the log; only the two signed refusals quarantine.
    assert len(read_case_events(settings, expect=1)) == 1
    quarantined = read_topic(settings.bootstrap_servers(), settings.quarantine_topic, expect=2)
    assert len(quarantined) == 2


def test_csv_upload(api: tuple[Settings, str]) -> None:
    settings, base = api
    url = f"{base}/partners/{PARTNER}/uploads"
    staff = reader(user="hs-admin", organisation=PARTNER, role="KEY_WORKER")
    good = (GOLDEN / "programme-year.input.csv").read_bytes()
    headers = {**staff, "content-type": "text/csv", "x-filename": "january.csv"}
    answer = httpx.post(url, content=good, headers=headers)
    assert answer.status_code == 200, answer.text
    assert answer.json() == {"records": 9, "published": 9, "refused": []}

    bad = (GOLDEN / "bad-rows.input.csv").read_bytes()
    report = httpx.post(url, content=bad, headers={**headers, "x-filename": "feb.csv"}).json()
    assert report["published"] == 0
    assert report["refused"][0] == {
        "at": "feb.csv:2",
        "errors": [
            {"field": "nhs_number", "message": "'9434765918' is not a valid NHS number"},
            {"field": "score", "message": "90 is outside 14..70"},
        ],
    }
    assert len(report["refused"]) == 6

    assert httpx.post(url, content=good, headers={"content-type": "text/csv"}).status_code == 401
    council = reader(user="sw-1", organisation="355", role="SOCIAL_WORKER")
    assert (
        httpx.post(url, content=good, headers={**council, "content-type": "text/csv"}).status_code
        == 403
    )
    assert (
        httpx.post(url, content=b"x", headers={**staff, "content-type": "text/plain"}).status_code
        == 415
    )
    wrong_columns = httpx.post(url, content=b"a,b\n1,2\n", headers=headers)
    assert wrong_columns.status_code == 422
    [problem] = wrong_columns.json()["detail"]
    assert "missing column(s) record_id, event, occurred_on" in problem["msg"]
    # A field past the CSV reader's limit (Python's csv: 128 KiB) can never be read: 422 for
    # good, and the file kept whole in quarantine like every refused input.
    huge_field = good + b"HS-2000,session_missed,2026-03-02,9434765919," + b"x" * 200_000 + b"\n"
    unreadable = httpx.post(url, content=huge_field, headers=headers)
    assert unreadable.status_code == 422, unreadable.text
    assert "field larger than field limit" in unreadable.json()["detail"][0]["msg"]

    events = read_case_events(settings, expect=9)
    assert len(events) == 9
    scores = [e for e in events if e.event_type == "ASSESSMENT_SCORE_RECORDED"]
    assert {(e.data_category, e.sensitivity) for e in scores} == {
        ("ASSESSMENT_SCORES", "SPECIAL_CATEGORY")
    }
    # the six bad rows, and the two files no row of which could be read, kept whole
    quarantined = read_topic(settings.bootstrap_servers(), settings.quarantine_topic, expect=8)
    assert len(quarantined) == 8
    codec = quarantine_read(settings)
    kept = [codec.decode(m.value() or b"") for m in quarantined]
    assert {r.raw for r in kept if r.reason.startswith("CSV upload refused")} == {
        b"a,b\n1,2\n",
        huge_field,
    }
