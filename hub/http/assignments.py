"""``POST /team/assignments`` and ``POST /team/unassignments``: a statutory partner's
practitioner names a practitioner to (or takes one off) the team around a person or family.

Thin over :func:`hub.services.assignments.change_assignment`: who may is
:func:`hub.team.assignments.may_change_team`; the change is a case-event
(``PRACTITIONER_ASSIGNED`` / ``PRACTITIONER_UNASSIGNED``) published by the API's one write path
(:func:`hub.services.statements.publish_statement`: 202 only after the broker's ack), so the
alert and team projections fold it like a trust's ROL or CareTeam. Because it changes who is
addressed alerts, the change is also put on the person's disclosure trail (channel API, the
acting organisation's own record), which ``GET /people/{person_key}/disclosures`` reports.
"""

from __future__ import annotations

from typing import Any, Final

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field, model_validator

from hub.http.dependencies import Reader, SharingContextDep, SinkDep
from hub.http.shapes import EventAccepted, SubjectIn
from hub.payloads import PractitionerAssigned, PractitionerUnassigned
from hub.practitioners import PractitionerRef
from hub.services.assignments import change_assignment
from hub.team.assignments import Change
from hub.vocabulary import AssignmentScope, PractitionerRole

RESPONSES: Final[dict[int | str, dict[str, Any]]] = {
    401: {"description": "No valid credential (RFC 6750 `WWW-Authenticate: Bearer`)."},
    403: {
        "description": "The caller may not change the team: not a client of an NHS or "
        "local-authority party to the agreement, a machine client, or ending another "
        "organisation's practitioner's assignment."
    },
    422: {
        "description": "The body is invalid: e.g. an NHS number failing modulus 11, FAMILY "
        "scope without family_key, or a practitioner of an organisation that is no party "
        "(or a midwife of a non-NHS one)."
    },
    503: {"description": "The change (or its disclosure record) could not be stored: send again."},
}


class _Scoped(BaseModel):
    model_config = ConfigDict(extra="forbid")
    subject: SubjectIn
    practitioner: PractitionerRef
    role: PractitionerRole
    scope: AssignmentScope = AssignmentScope.PERSON
    family_key: str | None = Field(
        default=None, description="The family (GET /families/...); required for FAMILY scope."
    )

    @model_validator(mode="after")
    def _family_for_family_scope(self) -> _Scoped:
        if self.scope is AssignmentScope.FAMILY and not self.family_key:
            raise ValueError("scope FAMILY needs family_key")
        return self


class AssignmentIn(_Scoped):
    name: str = Field(min_length=1, description="How the team names the practitioner.")
    contact: str | None = None


class UnassignmentIn(_Scoped):
    reason: str | None = None


def assignments_router() -> APIRouter:
    router = APIRouter(tags=["team around the family"])

    @router.post(
        "/team/assignments",
        status_code=202,
        response_model=EventAccepted,
        responses=RESPONSES,
        summary="Name a practitioner to the team around a person or family",
    )
    async def assign(
        body: AssignmentIn, reader: Reader, context: SharingContextDep, sink: SinkDep
    ) -> EventAccepted:
        """She hears of the person's (or family's) later missed appointments, as policy allows."""
        payload = PractitionerAssigned(
            practitioner_id=body.practitioner.practitioner_id,
            name=body.name,
            role=body.role,
            organisation_code=body.practitioner.organisation_code,
            contact=body.contact,
            scope=body.scope,
        )
        stated = await change_assignment(
            context,
            sink,
            reader,
            Change.ASSIGN,
            body.subject.identifiers(),
            body.family_key,
            payload,
        )
        return EventAccepted.of(stated)

    @router.post(
        "/team/unassignments",
        status_code=202,
        response_model=EventAccepted,
        responses=RESPONSES,
        summary="End a practitioner's assignment to a person or family",
    )
    async def unassign(
        body: UnassignmentIn, reader: Reader, context: SharingContextDep, sink: SinkDep
    ) -> EventAccepted:
        """Alerts raised after it are not addressed to her; those already raised stay sent."""
        payload = PractitionerUnassigned(
            practitioner_id=body.practitioner.practitioner_id,
            organisation_code=body.practitioner.organisation_code,
            role=body.role,
            scope=body.scope,
            reason=body.reason,
        )
        stated = await change_assignment(
            context,
            sink,
            reader,
            Change.UNASSIGN,
            body.subject.identifiers(),
            body.family_key,
            payload,
        )
        return EventAccepted.of(stated)

    return router
