"""What every route's OpenAPI says it answers besides success: written once, here.

The OpenAPI document is a contract partners generate clients from, and a fuzzer holds the hub
to (``tests/e2e/test_openapi_fuzz.py``): every status and body a route can answer is declared.
What is common is declared here and applied where routers are included (``hub/http/app.py``):

* every route that takes a body FastAPI parses answers 400 for bytes it cannot parse, and
  every route with a path parameter 404 for a value no route's path matches (the fuzzer's
  person key with a line break);
* every route that authenticates its caller (depends on
  :func:`hub.http.dependencies.authenticated_client`, as the reader does) answers 401 (no, a
  malformed, unknown, revoked or expired credential) and 403 (a client whose role the
  agreement no longer knows): :func:`documented` adds both;
* 422 is FastAPI's validation error, ``{"detail": [{"loc": [...], "msg": ..., ...}]}``, naming
  the field, for every route that takes parameters or a body; a refusal a route decides itself
  after validation uses the same shape (:func:`unprocessable`), so a 422 always names a field;
* a route that answers only after Kafka confirmed a write (or a disclosure) answers 503 when
  it did not: :data:`KAFKA_UNCONFIRMED`, given per router where they are included.

Each route declares only what is its own (404, 403, 409, 413, 415 ...) with the constants
below. Every other error body is FastAPI's ``{"detail": "<what is wrong>"}``
(:class:`ErrorOut`), except under ``/fhir``, where every error is a FHIR ``OperationOutcome``
in ``application/fhir+json`` (:func:`fhir_errors` makes FastAPI's own errors so too).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Final, Literal

from fastapi import APIRouter, FastAPI, Request
from fastapi.exception_handlers import (
    http_exception_handler,
    request_validation_exception_handler,
)
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from fastapi.routing import APIRoute
from pydantic import BaseModel
from starlette.exceptions import HTTPException as StarletteHTTPException

from hub.http import body_limits
from hub.http.dependencies import authenticated_client
from hub.http.fhir import FHIR_JSON, operation_outcome

FHIR_PREFIX: Final = "/fhir"
Responses = dict[int | str, dict[str, Any]]


class ErrorOut(BaseModel):
    """An error of the JSON API: what is wrong, in words (FastAPI's ``HTTPException`` body)."""

    detail: str


class ValidationIssue(BaseModel):
    loc: list[str | int]
    msg: str
    type: str


class ValidationErrorsOut(BaseModel):
    """A 422 of the JSON API: each problem with the field it is in (FastAPI's validation body)."""

    detail: list[ValidationIssue]


class OutcomeIssue(BaseModel):
    severity: Literal["fatal", "error", "warning", "information"]
    code: str
    diagnostics: str
    expression: list[str] | None = None


class OperationOutcome(BaseModel):
    """A FHIR R4 ``OperationOutcome``: the error body of every ``/fhir`` route."""

    resourceType: Literal["OperationOutcome"]  # noqa: N815 - FHIR's name
    issue: list[OutcomeIssue]


class FhirJSONResponse(JSONResponse):
    """JSON as FHIR names it: what the ``/fhir`` routes answer, errors included."""

    media_type = FHIR_JSON


def _error(description: str, model: type[BaseModel] = ErrorOut) -> dict[str, Any]:
    return {"model": model, "description": description}


UNAUTHENTICATED: Final = (
    "No credential, or a malformed, unknown, revoked or expired one "
    "(with `WWW-Authenticate: Bearer`)."
)
ROLE_UNKNOWN: Final = (
    "Refused: the client's role is no longer known to the agreement, or the route's own rule "
    "refuses this reader."
)
UNPARSABLE: Final = "The body could not be parsed (e.g. not UTF-8)."
UNROUTABLE: Final = "No route for this path: a path parameter with a '/' or a line break."
UNCONFIRMED: Final = (
    "Kafka did not confirm the write (or the disclosure record): nothing was recorded or sent; "
    "send again."
)

KAFKA_UNCONFIRMED: Final[Responses] = {503: _error(UNCONFIRMED)}
NOT_FOUND: Final[Responses] = {404: _error("Not found, or not yours to see (the same answer).")}
CONFLICT: Final[Responses] = {409: _error("The change conflicts with the current state.")}
TOO_LARGE: Final[Responses] = {413: _error(body_limits.TOO_LARGE[413]["description"])}
UNSUPPORTED: Final[Responses] = {
    415: _error("The body's Content-Type is not one this route takes.")
}


class TokenErrorOut(BaseModel):
    """An RFC 6749 (section 5.2) error: what ``/oauth2/token`` answers instead of a token."""

    error: str
    error_description: str


TOKEN_ERRORS: Final[Responses] = {
    400: _error("A malformed request or assertion (RFC 6749 `invalid_request`).", TokenErrorOut),
    401: _error("An unknown client, or an assertion that fails (`invalid_client`).", TokenErrorOut),
}
FHIR_ERRORS: Final[Responses] = {
    400: _error("Not JSON (the body is quarantined).", OperationOutcome),
    401: _error(UNAUTHENTICATED, OperationOutcome),
    403: _error(
        "X-Source-Organisation names another organisation than the client's, or the client's "
        "role is no longer known.",
        OperationOutcome,
    ),
    422: _error(
        "Not a resource the hub takes, or a parameter is invalid, naming each problem "
        "(the body is quarantined).",
        OperationOutcome,
    ),
    415: _error("Not FHIR JSON: the media types taken are named.", OperationOutcome),
    503: _error(UNCONFIRMED, OperationOutcome),
}


def _authenticates(route: APIRoute) -> bool:
    pending = list(route.dependant.dependencies)
    while pending:
        dependency = pending.pop()
        if dependency.call is authenticated_client:
            return True
        pending.extend(dependency.dependencies)
    return False


def documented(
    router: APIRouter, every: Responses | None = None, *, model: type[BaseModel] = ErrorOut
) -> APIRouter:
    """The router with 401 and 403 declared on each route that authenticates its caller, 400
    on each that takes a body FastAPI parses and 404 on each with a path parameter.

    ``every`` is declared on every route of the router (e.g. :data:`KAFKA_UNCONFIRMED`).
    Applied before ``include_router``, which builds the app's routes (and their response
    models) from these declarations; a route's own declaration of a status wins, then
    ``every``'s, then the common ones. An error a route declares by description alone gets
    ``model`` as its body.
    """
    for route in router.routes:
        if not isinstance(route, APIRoute):
            continue
        common: Responses = {}
        if route.body_field is not None:  # bytes FastAPI cannot parse as the body's type
            common[400] = _error(UNPARSABLE, model)
        # Every route reads at most its limit (hub/http/body_limits.py).
        common[413] = _error(TOO_LARGE[413]["description"], model)
        if route.dependant.path_params:  # a value no route's path matches: "a/b", a newline
            common[404] = _error(UNROUTABLE, model)
        if _authenticates(route):
            common |= {401: _error(UNAUTHENTICATED, model), 403: _error(ROLE_UNKNOWN, model)}
        declared = {**common, **(every or {}), **route.responses}
        route.responses = {
            status: _with_body(status, response, model) for status, response in declared.items()
        }
    return router


def _with_body(
    status: int | str, response: dict[str, Any], model: type[BaseModel]
) -> dict[str, Any]:
    """An error declared by its description alone has the router's error body."""
    if str(status).isdigit() and int(status) >= 400 and not {"model", "content"} & set(response):
        validation = str(status) == "422" and model is ErrorOut
        return {"model": ValidationErrorsOut if validation else model, **response}
    return response


def unprocessable(location: Sequence[str | int], message: str, given: object) -> Exception:
    """A 422 a route decides after validation, in the validation error's shape (naming the
    field at ``location``, e.g. ``("body", "url")``), as every 422 of the API is."""
    return RequestValidationError(
        [{"type": "value_error", "loc": tuple(location), "msg": message, "input": given}]
    )


_FHIR_CODES: Final = {400: "structure", 401: "login", 403: "forbidden", 404: "not-found"}


def _is_fhir(request: Request) -> bool:
    path = request.url.path
    return path == FHIR_PREFIX or path.startswith(f"{FHIR_PREFIX}/")


async def _http_error(request: Request, error: Exception) -> Response:
    assert isinstance(error, StarletteHTTPException)
    if not _is_fhir(request):
        return await http_exception_handler(request, error)
    code = _FHIR_CODES.get(error.status_code, "processing")
    answer = operation_outcome(error.status_code, [("", str(error.detail))], code=code)
    answer.headers.update(error.headers or {})
    return answer


async def _validation_error(request: Request, error: Exception) -> Response:
    assert isinstance(error, RequestValidationError)
    if not _is_fhir(request):
        return await request_validation_exception_handler(request, error)
    issues = [
        (".".join(str(part) for part in problem["loc"]), str(problem["msg"]))
        for problem in error.errors()
    ]
    return operation_outcome(422, issues, code="invalid")


def fhir_errors(app: FastAPI) -> None:
    """Answer FastAPI's own errors (401, 403, 422 ...) under ``/fhir`` as OperationOutcomes;
    everywhere else FastAPI's handlers answer as before."""
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
