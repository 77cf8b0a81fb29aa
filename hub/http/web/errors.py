"""A refusal on a page, as a page in the reader's language.

A browser that opens an alert not addressed to her, or posts a form the hub refuses, would
otherwise show the API's JSON (``{"detail": ...}``) in English. For a request under one of the
pages (:data:`PAGES`: the inbox, the error queue, the programme page) that asks for HTML, this
handler answers the same status with ``error.html``, a sentence in the reader's language and a
way back to the page she came from; every other request (the API, a script, ``/fhir``) gets
what the app's own handler answers, unchanged.
"""

from __future__ import annotations

from inspect import isawaitable

from fastapi import FastAPI, Request
from starlette.exceptions import HTTPException
from starlette.responses import Response

from hub.http.web.i18n import N_
from hub.http.web.templating import render

WHY = {
    403: N_("The hub refused that: it came from another site, or you may not do it."),
    404: N_("That is not in your inbox: the alert is not addressed to you, or it does not exist."),
    409: N_("That alert changed meanwhile: open it again to see how it stands."),
    503: N_("The hub could not record that just now; nothing was changed. Please try again."),
}
SOMETHING_ELSE = N_("The hub could not do that.")
# Each page's way back, and what "not found" means there where it is not an alert.
PAGES = {"/inbox": N_("Your alerts"), "/queue": N_("Error queue"), "/outcomes": N_("Your alerts")}
NOT_FOUND = {
    "/queue": N_(
        "That is not in your organisation's error queue: another organisation sent it, or it "
        "does not exist."
    ),
}


def page_errors(app: FastAPI) -> None:
    """Answer refusals of the pages as pages; install after the app's other handlers of
    ``HTTPException`` (it delegates to the one it replaces)."""
    answer_as_before = app.exception_handlers[HTTPException]

    async def refused(request: Request, error: Exception) -> Response:
        assert isinstance(error, HTTPException)
        page = _page_of(request)
        if page is None or error.status_code == 401:  # 401: the sign-in handler's
            answered = answer_as_before(request, error)
            return await answered if isawaitable(answered) else answered
        why = WHY.get(error.status_code, SOMETHING_ELSE)
        if error.status_code == 404:
            why = NOT_FOUND.get(page, why)
        back = page if page != "/outcomes" else "/inbox"  # the programme page needs its query
        return render(
            request,
            "error.html",
            {
                "reader": None,
                "why": why,
                "status": error.status_code,
                "back": back,
                "back_to": PAGES[page],
            },
            error.status_code,
        )

    app.add_exception_handler(HTTPException, refused)


def _page_of(request: Request) -> str | None:
    """The page a browser's request is under (``/queue`` of ``/queue/<id>``), else None."""
    first = "/" + request.url.path.split("/")[1]
    return first if first in PAGES and "text/html" in request.headers.get("accept", "") else None
