"""The pages rendered in each language, without a server: ``lang``, the texts, the dates, and
the person's own language beside her details (the browser test, tests/e2e/test_welsh_inbox.py,
does the same on real processes)."""

from __future__ import annotations

import html
from datetime import UTC, date, datetime
from types import SimpleNamespace

import pytest
from starlette.requests import Request

from hub.http.web.i18n import correspondence_languages
from hub.http.web.session import back_to
from hub.http.web.templating import TEMPLATES, render
from hub.sharing.policy import Recipient

READER = Recipient("7A6", "COMMUNITY_MIDWIFE", "abuhb-mw-1")


def request(cookie: str | None = None, accept: str | None = None) -> Request:
    headers = [(b"host", b"hub.test")]
    if cookie:
        headers.append((b"cookie", f"hub_lang={cookie}".encode()))
    if accept:
        headers.append((b"accept-language", accept.encode()))
    return Request(
        {
            "type": "http",
            "method": "GET",
            "scheme": "http",
            "server": ("hub.test", 80),
            "path": "/inbox/alerts/a-1",
            "root_path": "",
            "query_string": b"",
            "headers": headers,
        }
    )


def alert(language: str | None) -> SimpleNamespace:
    person = SimpleNamespace(
        given_name="Cerys",
        family_name="Jones",
        nhs_number="4857773457",
        birth_date=date(1999, 5, 1),
        **({"language": language} if language else {}),
    )
    return SimpleNamespace(
        alert_id="a-1",
        status=SimpleNamespace(value="OPEN"),
        escalated_at=None,
        person=person,
        appointment=SimpleNamespace(
            service_type="antenatal",
            start=datetime(2026, 3, 2, 9, 30, tzinfo=UTC),
            location=None,
        ),
        source_system="abuhb-wpas",
        organisation_code="7A6",
        inferred=False,
        missed_at=datetime(2026, 3, 2, 10, tzinfo=UTC),
        acknowledged_by=None,
    )


def page(language: str | None, person_language: str | None = None) -> str:
    response = render(
        request(cookie=language),
        "alert.html",
        {
            "reader": READER,
            "alert": alert(person_language),
            "team": None,
            "done": None,
            # as the inbox gives it (hub.http.web.inbox)
            "write_in": correspondence_languages(person_language),
        },
    )
    return bytes(response.body).decode()


@pytest.mark.parametrize(
    ("language", "lang", "texts"),
    [
        (
            "cy",
            'lang="cy"',
            [
                "Apwyntiad a gollwyd",
                "Rhif GIG 4857773457",
                "Dydd Llun 2 Mawrth 2026",
                "Cau'r rhybudd",
            ],
        ),
        (
            None,
            'lang="en-GB"',
            [
                "Missed appointment",
                "NHS number 4857773457",
                "Monday 2 March 2026",
                "Close the alert",
            ],
        ),
    ],
)
def test_the_alert_page_in_each_language(language: str | None, lang: str, texts: list[str]) -> None:
    shown = page(language)
    assert f"<html {lang}>" in shown
    text_of_page = html.unescape(shown)
    for text in texts:
        assert text in text_of_page
    assert "bydwraig gymunedol" in shown if language == "cy" else "community midwife" in shown


@pytest.mark.parametrize(
    ("reader_language", "person_language", "line"),
    [
        ("cy", "cy", "Dewis iaith: Cymraeg"),
        ("en", "cy", "Preferred language: Welsh"),
        ("cy", "en", "Dewis iaith: Saesneg"),
        ("en", "pl", "Preferred language: Polish"),
    ],
)
def test_the_persons_own_language_is_shown_in_the_readers(
    reader_language: str, person_language: str, line: str
) -> None:
    assert f'<p id="person-language">{line}</p>' in page(reader_language, person_language)


def test_no_language_recorded_shows_no_line() -> None:
    assert 'id="person-language"' not in page("cy")


@pytest.mark.parametrize(
    ("reader_language", "person_language", "line"),
    [
        ("en", "cy", "Write to them in: Welsh."),
        ("cy", "cy", "Ysgrifennwch atynt yn: Cymraeg."),
        ("en", "pl", "Write to them in: English."),  # the hub writes in Welsh or English
        (
            "en",
            None,
            "No language preference recorded: write to them bilingually (Welsh, English).",
        ),
        (
            "cy",
            None,
            "Dim dewis iaith wedi'i gofnodi: ysgrifennwch atynt yn ddwyieithog (Cymraeg, Saesneg).",
        ),
    ],
)
def test_the_page_says_what_to_write_to_the_person_in(
    reader_language: str, person_language: str | None, line: str
) -> None:
    shown = html.unescape(page(reader_language, person_language))
    assert line in shown


@pytest.mark.parametrize(
    ("back", "target"),
    [
        ("/inbox", "/inbox"),
        ("/inbox/alerts/a-1?done=closed", "/inbox/alerts/a-1?done=closed"),
        ("/inbox/sign-in", "/inbox/sign-in"),
        ("", "/inbox"),
        ("//evil.example/inbox", "/inbox"),
        ("/\\evil.example", "/inbox"),
        ("https://evil.example/", "/inbox"),
        ("/inbox\r\nSet-Cookie: x=1", "/inbox"),
    ],
)
def test_choosing_a_language_returns_only_to_a_page_of_the_hub(back: str, target: str) -> None:
    assert back_to(back) == target


def test_a_page_rendered_without_render_is_english_not_broken() -> None:
    """A page whose route calls TEMPLATES.TemplateResponse itself (not render()) still renders
    base.html: the English words are the defaults, and the `uk` filter is there."""
    response = TEMPLATES.TemplateResponse(
        request(), "sign_in.html", {"reader": None, "error": None}
    )
    shown = bytes(response.body).decode()
    assert '<html lang="en-GB">' in shown
    assert "<h1>Sign in</h1>" in shown
    assert TEMPLATES.env.filters["uk"](datetime(2026, 7, 1, 9, tzinfo=UTC)).hour == 10  # BST
