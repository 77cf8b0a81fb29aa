"""What the hub's pages share: the Jinja2 templates, rendering in the reader's language, and the
same-origin check."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi import HTTPException, Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates

from hub.http.web.i18n import LANGUAGE_COOKIE, N_, choose_language, translator

TEMPLATES = Jinja2Templates(directory=Path(__file__).parent / "templates")
# An alert's status as the pages name it (the fold's values are the contract's, in English).
STATUS_LABELS = {"OPEN": N_("Open"), "ACKNOWLEDGED": N_("Acknowledged"), "CLOSED": N_("Closed")}


def render(
    request: Request, name: str, context: dict[str, Any], status_code: int = 200
) -> HTMLResponse:
    """A page in the reader's language (:func:`hub.http.web.i18n.choose_language`): the
    template gets ``_``, ``pgettext``, ``ngettext``, ``when`` and ``day`` of that language,
    and ``lang`` for its ``lang`` attribute; times are shown in UK time."""
    language = choose_language(
        request.cookies.get(LANGUAGE_COOKIE), request.headers.get("accept-language")
    )
    words = translator(language)
    return TEMPLATES.TemplateResponse(
        request,
        name,
        {
            **context,
            "_": words.gettext,
            "pgettext": words.pgettext,
            "ngettext": words.ngettext,
            "when": words.when,
            "day": words.day,
            "lang": words.html_lang,
            "language": language,
            "status_label": lambda status: words.gettext(STATUS_LABELS[status]),
        },
        status_code=status_code,
    )


def same_origin(request: Request) -> None:
    """Refuse a form posted from another site (the cookie is SameSite=Strict too)."""
    origin = request.headers.get("origin")
    if origin is not None and origin.rstrip("/") != str(request.base_url).rstrip("/"):
        raise HTTPException(403, f"a form from {origin} may not change anything here")
