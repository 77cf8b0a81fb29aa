"""Request body limits: each route reads at most its limit, and says so in the 413.

The counting is FastAPI's own ``max_body_size`` (Starlette's ``RequestBodyLimitMiddleware``):
the app has the default limit (``HUB_BODY_LIMIT_BYTES``) and the routes that take larger or
must take smaller bodies set their own (FHIR resource, Bundle, partner webhook, CSV upload,
token). It counts bytes as the body streams, chunked or not, and stops at the limit, so nobody
makes the API hold more than a route's limit (issue 17: a 50 MB body to the unauthenticated
webhook route was read in full before its 401).

What this module adds: a ``Content-Length`` over the limit is refused before anything else
runs (authentication included, so the answer does not depend on who asks), and the 413 names
the limit instead of Starlette's bare "Content Too Large"; on FHIR routes it is an
OperationOutcome.
"""

from __future__ import annotations

from typing import Any, Final

from fastapi import HTTPException, Request
from fastapi.exception_handlers import http_exception_handler
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.middleware.body_limit import MAX_BODY_SIZE_SCOPE_KEY

STARLETTE_DETAIL: Final = "Content Too Large"  # Starlette's 413 while counting a streamed body
FHIR_JSON: Final = "application/fhir+json"
# The rest of an unread body is not wanted: the server closes instead of reading it to the end.
CLOSE: Final = {"Connection": "close"}
TOO_LARGE: Final[dict[int | str, dict[str, Any]]] = {
    413: {"description": "The request body is larger than this route's limit, which it names"}
}


def too_large_message(limit: int) -> str:
    """Why the request was refused: the limit, and what the sender can do."""
    return (
        f"the request body is larger than this route's limit of {limit} bytes; "
        "nothing was stored: send it in smaller parts"
    )


def _limit(request: Request) -> int | None:
    limit = request.scope.get(MAX_BODY_SIZE_SCOPE_KEY)
    return limit if isinstance(limit, int) else None


async def refuse_declared_oversize(request: Request) -> None:
    """An app-wide dependency: 413 when ``Content-Length`` is over the route's limit, before
    the body is read or the caller authenticated."""
    limit, declared = _limit(request), request.headers.get("content-length", "")
    if limit is not None and declared.isdigit() and int(declared) > limit:
        raise HTTPException(413, too_large_message(limit))


async def too_large(request: Request, error: Exception) -> Response:
    """The 413 handler: Starlette's bare refusal gets the limit; FHIR routes answer FHIR."""
    assert isinstance(error, StarletteHTTPException)
    detail = error.detail
    limit = _limit(request)
    if detail == STARLETTE_DETAIL and limit is not None:
        detail = too_large_message(limit)
    if request.url.path.startswith("/fhir"):
        issue = {"severity": "error", "code": "too-costly", "diagnostics": detail}
        return JSONResponse(
            {"resourceType": "OperationOutcome", "issue": [issue]},
            status_code=413,
            media_type=FHIR_JSON,
            headers=CLOSE,
        )
    return await http_exception_handler(request, StarletteHTTPException(413, detail, CLOSE))
