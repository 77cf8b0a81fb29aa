"""Signing in to the hub's web pages: an API key exchanged for a session cookie.

A midwife (or the administrator setting her up) holds the API key ``hub clients add`` printed
for her. The sign-in form exchanges it, once, for an access token — the same kind
``POST /oauth2/token`` issues, kept hashed, expiring after ``HUB_ACCESS_TOKEN_SECONDS`` — set in
the ``hub_session`` cookie: ``HttpOnly`` (page scripts cannot read it), ``SameSite=Strict``
(another site's form does not carry it) and ``Secure`` when the hub is served over HTTPS.
Signing out revokes the token at once, so a copied cookie stops working too.

Pages that need a reader raise :class:`NotSignedInError` instead of the API's JSON 401; the
handler sends a browser (``Accept: text/html``) to the sign-in page (303), saying so when her
session expired, and answers any other client with the API's JSON 401.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated

from fastapi import APIRouter, Depends, Form, HTTPException, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response

from hub.auth.credentials import SESSION_COOKIE
from hub.errorqueue.fold import INTEGRATION_ENGINEER
from hub.http.authentication import authenticate
from hub.http.dependencies import ClientsDep
from hub.http.web.i18n import LANGUAGE_COOKIE, LANGUAGES, N_
from hub.http.web.templating import render, same_origin
from hub.settings import Settings
from hub.sharing.policy import Recipient

SIGN_IN = "/inbox/sign-in"
LANGUAGE = "/inbox/language"
EXPIRED = N_("Your session has expired: sign in again.")
UNKNOWN_KEY = N_("That API key is unknown or has been revoked.")


class NotSignedInError(Exception):
    """A page was asked for without a usable session; ``reason`` says why."""

    def __init__(self, reason: str, headers: dict[str, str]) -> None:
        super().__init__(reason)
        self.reason = reason
        self.headers = headers  # WWW-Authenticate, as the API's 401 has it


def page_reader(request: Request, clients: ClientsDep) -> Recipient:
    """The signed-in reader of a page, or :class:`NotSignedInError` (rendered as the form)."""
    try:
        return authenticate(request, clients).recipient()
    except HTTPException as refused:
        if refused.status_code != 401:
            raise
        raise NotSignedInError(str(refused.detail), dict(refused.headers or {})) from None


PageReader = Annotated[Recipient, Depends(page_reader)]


def sign_in_page(request: Request, *, error: str | None, status_code: int) -> HTMLResponse:
    """The sign-in form; ``error`` is a catalog message, shown in the reader's language."""
    return render(request, "sign_in.html", {"reader": None, "error": error}, status_code)


async def sign_in_required(request: Request, exc: Exception) -> Response:
    """Exception handler: a browser is sent to the sign-in page (303, the page saying so when
    her session expired); anything that does not ask for HTML gets the API's JSON 401."""
    assert isinstance(exc, NotSignedInError)
    if "text/html" not in request.headers.get("accept", ""):
        return JSONResponse({"detail": exc.reason}, status_code=401, headers=exc.headers)
    expired = "?expired=1" if "expired" in exc.reason else ""
    return RedirectResponse(f"{SIGN_IN}{expired}", status_code=303)


def back_to(back: str) -> str:
    """Where the language form returns: a path of this hub, else the inbox. Another site
    (``//host``, ``/\\host``, ``https://host``) or a control character is never a target, so
    the form cannot be used to send a signed-in midwife elsewhere."""
    local = (
        back.startswith("/")
        and not back.startswith("//")
        and "\\" not in back
        and back.isprintable()
    )
    return back if local else "/inbox"


def session_router(settings: Settings) -> APIRouter:
    router = APIRouter(tags=["inbox"], include_in_schema=False)
    lifetime = timedelta(seconds=settings.access_token_seconds)

    @router.get(SIGN_IN, response_class=HTMLResponse)
    async def sign_in_form(request: Request, expired: bool = False) -> HTMLResponse:
        return sign_in_page(request, error=EXPIRED if expired else None, status_code=200)

    @router.post(SIGN_IN, response_model=None)
    async def sign_in(
        request: Request, clients: ClientsDep, api_key: Annotated[str, Form(max_length=512)]
    ) -> HTMLResponse | RedirectResponse:
        same_origin(request)
        client = clients.authenticate_api_key(api_key.strip())
        if client is None:
            return sign_in_page(request, error=UNKNOWN_KEY, status_code=401)
        token, _ = clients.issue_access_token(client.client_id, lifetime)
        # An integration engineer's page is the error queue (ADR 0030); everyone else's the inbox.
        home = "/queue" if client.role == INTEGRATION_ENGINEER else "/inbox"
        response = RedirectResponse(home, status_code=303)
        response.set_cookie(
            SESSION_COOKIE,
            token,
            max_age=int(lifetime.total_seconds()),
            path="/",
            httponly=True,
            samesite="strict",
            secure=request.url.scheme == "https",
        )
        return response

    @router.post(LANGUAGE)
    async def choose_language(
        request: Request,
        language: Annotated[str, Form(max_length=8)],
        back: Annotated[str, Form(max_length=512)] = "/inbox",
    ) -> RedirectResponse:
        """Keep the reader's choice of language (a year; signed in or not) and go back to the
        page she chose it on. Only a path of this hub is gone back to."""
        same_origin(request)
        if language not in LANGUAGES:
            raise HTTPException(422, f"language must be one of {', '.join(LANGUAGES)}")
        response = RedirectResponse(back_to(back), status_code=303)
        response.set_cookie(
            LANGUAGE_COOKIE,
            language,
            max_age=365 * 24 * 3600,
            path="/",
            httponly=True,
            samesite="strict",
            secure=request.url.scheme == "https",
        )
        return response

    @router.post("/inbox/sign-out")
    async def sign_out(
        request: Request, reader: PageReader, clients: ClientsDep
    ) -> RedirectResponse:
        same_origin(request)
        token = request.cookies.get(SESSION_COOKIE)
        if token:
            clients.revoke_access_token(token)
        response = RedirectResponse(SIGN_IN, status_code=303)
        response.delete_cookie(SESSION_COOKIE, path="/")
        return response

    return router
