"""The error queue page rendered in each language without a server: ``lang``, its texts, its
codes named in the reader's language, counts by CLDR's plural forms, and the source's own
error text left as written (tests/e2e/test_error_queue.py does the same on real processes)."""

from __future__ import annotations

from datetime import UTC, datetime
from types import SimpleNamespace

import pytest

from hub.errorqueue.fold import Channel, Status
from hub.http.web.queue import WORDS
from hub.http.web.templating import render
from hub.sharing.policy import Recipient
from tests.unit.test_pages_in_welsh import request

ENGINEER = Recipient("7A6", "INTEGRATION_ENGINEER", "abuhb-ie-1")


def entry(times: int) -> SimpleNamespace:
    item = SimpleNamespace(
        item_id="i-1",
        channel=Channel.UPLOAD,
        source_system=None,
        times=times,
        last_seen=datetime(2026, 3, 2, 9, 30, tzinfo=UTC),
    )
    error = SimpleNamespace(location="nhs_number", message="'123' is not a valid NHS number")
    return SimpleNamespace(item=item, status=Status.OPEN, errors=[error])


def page(language: str | None, times: int) -> str:
    response = render(
        request(cookie=language),
        "queue.html",
        {
            "reader": ENGINEER,
            "queue_words": WORDS,
            "entries": [entry(times)],
            "channels": list(Channel),
            "statuses": list(Status),
            "chosen": {"channel": None, "status": None, "reason": ""},
        },
    )
    return bytes(response.body).decode()


@pytest.mark.parametrize(
    ("language", "times", "texts"),
    [
        (
            "cy",
            2,
            [
                'lang="cy"',
                "Yr hyn a anfonodd eich sefydliad ac a wrthodwyd gan yr hwb",
                "1 mewnbwn a wrthodwyd.",
                "2 waith",
                "agored",
                "uwchlwytho",
                "anhysbys",
                "2 Maw 2026 09:30",
                "peiriannydd integreiddio",  # the reader's role, in the header
                "is not a valid NHS number",  # the hub's error about the input, as written
            ],
        ),
        ("cy", 8, ["8 gwaith"]),
        (
            None,
            1,
            [
                'lang="en-GB"',
                "What your organisation sent that the hub refused",
                "1 refused input.",
                "1 time",
                "open",
                "upload",
                "2 Mar 2026 09:30",
            ],
        ),
    ],
)
def test_the_queue_in_each_language(language: str | None, times: int, texts: list[str]) -> None:
    shown = page(language, times).replace("&#39;", "'")
    for text in texts:
        assert text in shown, text
