"""Request body limits: each route reads at most its limit, and says so in the 413.

The counting is FastAPI's own ``max_body_size`` (Starlette's ``RequestBodyLimitMiddleware``):
every route has the default (``HUB_BODY_LIMIT_BYTES``) unless it sets its own (FHIR resource,
Bundle, partner webhook, CSV upload, token). It counts bytes as the body streams, chunked or
not, and stops at the limit; a ``Content-Length`` over the limit is refused before any of the
body is read, whatever the route would have answered (a 401 included). So nobody makes the API
hold more than a route's limit (issue 17: a 50 MB body to the unauthenticated webhook route
was read in full before its 401).

What this module adds is the answer: Starlette's is a bare "Content Too Large"; ours names the
limit, is an OperationOutcome on FHIR routes, and closes the connection (the rest of the body
is not wanted).
"""

from __future__ import annotations

from typing import Any, Final

from fastapi import Request
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException
from starlette.middleware.body_limit import MAX_BODY_SIZE_SCOPE_KEY
from starlette.types import ASGIApp, Message, Receive, Scope, Send

STARLETTE_DETAIL: Final = "Content Too Large"  # Starlette's 413, raised or sent
FHIR_JSON: Final = "application/fhir+json"
TOO_LARGE: Final[dict[int | str, dict[str, Any]]] = {
    413: {"description": "The request body is larger than this route's limit, which it names"}
}


def too_large_message(limit: int) -> str:
    """Why the request was refused: the limit, and what the sender can do."""
    return (
        f"the request body is larger than this route's limit of {limit} bytes; "
        "nothing was stored: send it in smaller parts"
    )


def too_large_response(path: str, detail: str) -> Response:
    """The 413: an OperationOutcome on FHIR routes, ``{"detail": ...}`` elsewhere."""
    close = {"Connection": "close"}
    if path.startswith("/fhir"):
        issue = {"severity": "error", "code": "too-costly", "diagnostics": detail}
        body = {"resourceType": "OperationOutcome", "issue": [issue]}
        return JSONResponse(body, status_code=413, media_type=FHIR_JSON, headers=close)
    return JSONResponse({"detail": detail}, status_code=413, headers=close)


def _limit(scope: Scope) -> int | None:
    limit = scope.get(MAX_BODY_SIZE_SCOPE_KEY)
    return limit if isinstance(limit, int) else None


async def too_large(request: Request, error: Exception) -> Response:
    """The 413 handler: a body that passed the limit while streaming (or any 413 a route
    raises, its detail kept)."""
    assert isinstance(error, HTTPException)
    limit = _limit(request.scope)
    detail = error.detail
    if detail == STARLETTE_DETAIL and limit is not None:
        detail = too_large_message(limit)
    return too_large_response(request.url.path, detail)


class NameTheLimit:
    """Pure ASGI middleware: Starlette's bare 413 — sent in place of the route's answer when
    ``Content-Length`` is over the limit — replaced by :func:`too_large_response`."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        held: Message | None = None  # a 413's start, until its body shows whose it is

        async def send_named(message: Message) -> None:
            nonlocal held
            if message["type"] == "http.response.start" and message["status"] == 413:
                held = message
                return
            if held is not None:
                start, held = held, None
                limit = _limit(scope)
                if message.get("body") == STARLETTE_DETAIL.encode() and limit is not None:
                    response = too_large_response(scope["path"], too_large_message(limit))
                    await response(scope, receive, send)
                    return
                await send(start)
            await send(message)

        await self.app(scope, receive, send_named)
