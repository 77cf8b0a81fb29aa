"""A use case's refusal as the HTTP answer: one status per kind, decided once.

The use cases (:mod:`hub.services`) refuse in words (:mod:`hub.services.errors`); a route lets
the refusal propagate and :func:`answer_refusals` turns it into what an ``HTTPException`` of
that status would have been — answered by the app's own handler, so a ``/fhir`` route gets an
OperationOutcome and every other route ``{"detail": reason}``. What is asked that is wrong in
itself is a 422 in the validation error's shape, naming the body.
"""

from __future__ import annotations

from inspect import isawaitable
from typing import Final

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException
from starlette.responses import Response

from hub.http.openapi import unprocessable
from hub.services.errors import (
    ConflictError,
    ForbiddenError,
    NotFoundError,
    NotRecordedError,
    UnprocessableError,
    UseCaseError,
)

STATUS: Final[dict[type[UseCaseError], int]] = {
    NotFoundError: 404,
    ForbiddenError: 403,
    ConflictError: 409,
    NotRecordedError: 503,  # the broker did not acknowledge: nothing sent, send again
}


def status_of(error: UseCaseError) -> int:
    """The status of ``error``'s kind (the nearest one it derives from)."""
    return next(STATUS[kind] for kind in type(error).__mro__ if kind in STATUS)


def answer_refusals(app: FastAPI) -> None:
    """Answer every :class:`UseCaseError` a route lets through, with the app's handlers."""

    async def refused(request: Request, error: Exception) -> Response:
        assert isinstance(error, UseCaseError)
        answer: Exception
        if isinstance(error, UnprocessableError):
            answer = unprocessable(("body",), error.reason, error.given)
            handler = app.exception_handlers[RequestValidationError]
        else:
            answer = HTTPException(status_of(error), error.reason)
            handler = app.exception_handlers[HTTPException]
        response = handler(request, answer)
        return await response if isawaitable(response) else response

    app.add_exception_handler(UseCaseError, refused)
