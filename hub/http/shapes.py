"""Shapes more than one resource takes or answers: the person a write is about, and what a
write became.

The sharing routes (consents and overrides, held changes), identity review and team
assignments all name a person the same way (:class:`SubjectIn`) and answer a statement on the
log the same way (:class:`EventAccepted`, :class:`ChangeAnswer`), so a client reads one shape.
"""

from __future__ import annotations

import uuid
from typing import Any, Final, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from hub.events import EventType
from hub.nhs_number import is_valid_nhs_number, normalise_nhs_number
from hub.payloads import NHS_NUMBER_SYSTEM, PersonIdentifier
from hub.services.change_requests import ChangeResult
from hub.services.statements import Stated


class SubjectIn(BaseModel):
    """The person: an NHS number, or a local identifier qualified by its system."""

    model_config = ConfigDict(extra="forbid")
    nhs_number: str | None = None
    system: str | None = None
    value: str | None = None

    @model_validator(mode="after")
    def _one_identifier(self) -> SubjectIn:
        if self.nhs_number is not None:
            if not is_valid_nhs_number(self.nhs_number):
                raise ValueError(f"nhs_number {self.nhs_number!r} fails the modulus-11 check")
        elif not (self.system and self.value):
            raise ValueError("give nhs_number, or both system and value")
        return self

    def identifiers(self) -> tuple[PersonIdentifier, ...]:
        if self.nhs_number is not None:
            number = normalise_nhs_number(self.nhs_number)
            return (PersonIdentifier(system=NHS_NUMBER_SYSTEM, value=number),)
        # both set: the validator refused anything else
        return (PersonIdentifier(system=self.system or "", value=self.value or ""),)

    def key(self) -> str:
        """The identifier key the change log and the disclosure log file the person under."""
        return self.identifiers()[0].key()


class EventAccepted(BaseModel):
    """The answer to a fact stated over the API: the case-event it became."""

    event_id: uuid.UUID
    event_type: EventType

    @classmethod
    def of(cls, stated: Stated) -> EventAccepted:
        return cls(event_id=stated.event_id, event_type=stated.event_type)


class ChangeAnswer(BaseModel):
    """A change to sharing the policy permitted (``applied``) or held for ``review``; a held
    change a reviewer ``rejected``."""

    status: Literal["applied", "review", "rejected"]
    change_id: uuid.UUID = Field(description="Its entry in the change log.")
    reason: str
    event_id: uuid.UUID | None = Field(default=None, description="The case-event, if applied.")
    event_type: EventType | None = None

    @classmethod
    def of(cls, result: ChangeResult) -> ChangeAnswer:
        return cls(
            status=result.status,
            change_id=result.change_id,
            reason=result.reason,
            event_id=result.event_id,
            event_type=result.event_type,
        )


CHANGE_RESPONSES: Final[dict[int | str, dict[str, Any]]] = {
    202: {"description": "Applied (on the case-event log), or held for review (not applied)."},
    401: {"description": "No or bad credentials."},
    403: {"description": "The sharing policy refused the change; the reason says why."},
    503: {"description": "Not recorded: the broker did not acknowledge it; send again."},
}
