"""What the hub's pages share: the Jinja2 templates, rendering in the reader's language, and the
same-origin check."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi import HTTPException, Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates

from hub.http.web.i18n import ENGLISH, LANGUAGE_COOKIE, N_, UK, choose_language, translator

TEMPLATES = Jinja2Templates(directory=Path(__file__).parent / "templates")
# The contract's codes as the pages name them (the codes themselves are English identifiers);
# a code without a label here is shown as it is, lower-cased.
LABELS: dict[str, str] = {
    # an alert's status
    "OPEN": N_("Open"),
    "ACKNOWLEDGED": N_("Acknowledged"),
    "CLOSED": N_("Closed"),
    # practitioners' roles
    "COMMUNITY_MIDWIFE": N_("community midwife"),
    "PROGRAMME_MIDWIFE": N_("programme midwife"),
    "SPECIALIST_MIDWIFE": N_("specialist midwife"),
    "SAFEGUARDING_MIDWIFE": N_("safeguarding midwife"),
    "HEALTH_VISITOR": N_("health visitor"),
    "GP": N_("GP"),
    "SOCIAL_WORKER": N_("social worker"),
    "LEAD_PRACTITIONER": N_("lead practitioner"),
    "KEY_WORKER": N_("key worker"),
    "CONSULTANT": N_("consultant"),
    "OTHER": N_("other"),
    "INTEGRATION_ENGINEER": N_("integration engineer"),  # the error queue's readers
    "PROGRAMME_MANAGER": N_("programme manager"),  # the programme page's
    # family members
    "SELF": N_("self"),
    "MOTHER": N_("mother"),
    "FATHER_OR_PARTNER": N_("father or partner"),
    "UNBORN_CHILD": N_("unborn child"),
    "CHILD": N_("child"),
    "SIBLING": N_("sibling"),
    "GRANDPARENT": N_("grandparent"),
    # plans
    "EARLY_HELP": N_("early help"),
    "CHILD_IN_NEED": N_("child in need"),
    "CHILD_PROTECTION": N_("child protection"),
    "LOOKED_AFTER": N_("looked after"),
}


def render(
    request: Request, name: str, context: dict[str, Any], status_code: int = 200
) -> HTMLResponse:
    """A page in the reader's language (:func:`hub.http.web.i18n.choose_language`): the
    template gets :func:`words_of` that language; times are shown in UK time."""
    return TEMPLATES.TemplateResponse(
        request, name, {**context, **words_of(reader_language(request))}, status_code=status_code
    )


def reader_language(request: Request) -> str:
    """The language the page is in: her ``hub_lang`` choice, else her browser's, else English
    (for what a page draws outside its template, such as a chart)."""
    return choose_language(
        request.cookies.get(LANGUAGE_COOKIE), request.headers.get("accept-language")
    )


def words_of(language: str) -> dict[str, Any]:
    """What a template says things with: ``_``, ``pgettext``, ``ngettext``, ``when``, ``day``,
    ``language_name`` and ``label`` of ``language``, and ``lang`` for its ``lang`` attribute."""
    words = translator(language)
    return {
        "_": words.gettext,
        "pgettext": words.pgettext,
        "ngettext": words.ngettext,
        "when": words.when,
        "day": words.day,
        "language_name": words.language_name,
        "lang": words.html_lang,
        "language": language,
        "label": lambda code: (
            words.gettext(LABELS[code]) if code in LABELS else code.lower().replace("_", " ")
        ),
    }


# A page rendered straight through TEMPLATES rather than render() is in English, not broken:
# the English words are the templates' defaults, and the `uk` filter (UTC -> UK time) stays for
# templates that format times with strftime.
TEMPLATES.env.globals.update(words_of(ENGLISH))
TEMPLATES.env.filters["uk"] = lambda moment: moment.astimezone(UK)


def same_origin(request: Request) -> None:
    """Refuse a form posted from another site (the cookie is SameSite=Strict too)."""
    origin = request.headers.get("origin")
    if origin is not None and origin.rstrip("/") != str(request.base_url).rstrip("/"):
        raise HTTPException(403, f"a form from {origin} may not change anything here")
