"""How a use case says no: a refusal in words, with no status code.

The use cases in :mod:`hub.services` know nothing of HTTP, yet each of their refusals has one
meaning every front door must keep: *not found* (or not the caller's to see — the same answer,
so that a refusal does not disclose what exists), *forbidden* (the reason says why), *conflict*
with the current state, and *not recorded* (the broker did not acknowledge the write: nothing
was changed or sent, and sending again is safe). The HTTP app maps each to its status once
(:mod:`hub.http.refusals`); the words are the answer's ``detail``.
"""

from __future__ import annotations


class UseCaseError(Exception):
    """A use case refused; ``reason`` is what the caller is told."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class NotFoundError(UseCaseError):
    """No such thing, or nothing of it the caller may see (deliberately the same answer)."""


class ForbiddenError(UseCaseError):
    """The caller may not do this; the reason says why."""


class ConflictError(UseCaseError):
    """The request conflicts with the current state (already closed, already decided)."""


class NotRecordedError(UseCaseError):
    """The broker did not acknowledge a write the answer depends on: nothing was sent."""


class UnprocessableError(UseCaseError):
    """What was asked is wrong in itself (a field's value), named like a validation error.

    ``given`` is the offending value, reported back as a validation error reports its input.
    """

    def __init__(self, reason: str, given: object) -> None:
        super().__init__(reason)
        self.given = given
