"""``POST /team/assignments`` and ``POST /team/unassignments``: a statutory partner's
practitioner names a practitioner to (or takes one off) the team around a person or family.

Who may is :func:`hub.team.assignments.may_change_team`; the change is a case-event
(``PRACTITIONER_ASSIGNED`` / ``PRACTITIONER_UNASSIGNED``) published by the API's one write path
(:func:`hub.http.sharing.publish_from_api`: 202 only after the broker's ack), so the alert and
team projections fold it like a trust's ROL or CareTeam. Because it changes who is addressed
alerts, the change is also put on the person's disclosure trail (channel API, the acting
organisation's own record), which ``GET /people/{person_key}/disclosures`` reports.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any, Final

from fastapi import APIRouter, Depends, HTTPException, Request
from pydantic import BaseModel, ConfigDict, Field, model_validator

from hub.events import (
    AssignmentScope,
    DataCategory,
    PractitionerAssigned,
    PractitionerRole,
    PractitionerUnassigned,
    Purpose,
    Sensitivity,
)
from hub.http.authentication import reader_identity
from hub.http.openapi import unprocessable
from hub.http.sharing import EventAccepted, SubjectIn, publish_from_api, record_disclosures
from hub.sharing.agreement import Agreement, LawfulBasis
from hub.sharing.disclosure import Channel, DisclosedItem, Disclosure
from hub.sharing.policy import Recipient
from hub.team.assignments import Change, may_change_team

Reader = Annotated[Recipient, Depends(reader_identity)]
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


class PractitionerIn(BaseModel):
    """A practitioner is (organisation, id): ``practitioner_id`` is unique within the
    organisation only."""

    model_config = ConfigDict(extra="forbid")
    organisation_code: str = Field(min_length=1, description="ODS / council / charity code.")
    practitioner_id: str = Field(min_length=1, description="The organisation's user id.")


class _Scoped(BaseModel):
    model_config = ConfigDict(extra="forbid")
    subject: SubjectIn
    practitioner: PractitionerIn
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
    async def assign(body: AssignmentIn, reader: Reader, request: Request) -> EventAccepted:
        """She hears of the person's (or family's) later missed appointments, as policy allows."""
        payload = PractitionerAssigned(
            practitioner_id=body.practitioner.practitioner_id,
            name=body.name,
            role=body.role,
            organisation_code=body.practitioner.organisation_code,
            contact=body.contact,
            scope=body.scope,
        )
        return await _change(request, reader, body, Change.ASSIGN, payload)

    @router.post(
        "/team/unassignments",
        status_code=202,
        response_model=EventAccepted,
        responses=RESPONSES,
        summary="End a practitioner's assignment to a person or family",
    )
    async def unassign(body: UnassignmentIn, reader: Reader, request: Request) -> EventAccepted:
        """Alerts raised after it are not addressed to her; those already raised stay sent."""
        payload = PractitionerUnassigned(
            practitioner_id=body.practitioner.practitioner_id,
            organisation_code=body.practitioner.organisation_code,
            role=body.role,
            scope=body.scope,
            reason=body.reason,
        )
        return await _change(request, reader, body, Change.UNASSIGN, payload)

    return router


async def _change(
    request: Request,
    reader: Recipient,
    body: _Scoped,
    change: Change,
    payload: PractitionerAssigned | PractitionerUnassigned,
) -> EventAccepted:
    agreement: Agreement = request.app.state.agreement
    practitioner = body.practitioner
    decision = may_change_team(agreement, reader, change, practitioner.organisation_code, body.role)
    if not decision.allowed and decision.status == 422:  # what is asked: as validation does
        raise unprocessable(("body",), decision.reason, practitioner.organisation_code)
    if not decision.allowed:
        raise HTTPException(decision.status, decision.reason)
    identifiers = body.subject.identifiers()
    accepted = await publish_from_api(
        request,
        reader,
        identifiers,
        body.family_key,
        payload,
        record_key=f"{practitioner.organisation_code}|{practitioner.practitioner_id}|{body.role}",
        category=DataCategory.PRACTITIONER_ALLOCATION,
        sensitivity=Sensitivity.ROUTINE,
    )
    now: datetime = request.app.state.clock()
    verb = "assigned" if change is Change.ASSIGN else "unassigned"
    path = "/team/assignments" if change is Change.ASSIGN else "/team/unassignments"
    trail = Disclosure(
        disclosure_id=uuid.uuid4(),
        disclosed_at=now,
        channel=Channel.API,
        recipient_organisation=reader.organisation_code,
        recipient_role=reader.role,
        recipient_user=reader.user_id,
        subject_key=identifiers[0].key(),
        family_key=body.family_key,
        purpose=Purpose.DIRECT_CARE,
        items=(
            DisclosedItem(
                category=DataCategory.PRACTITIONER_ALLOCATION,
                controller=reader.organisation_code,
                basis=LawfulBasis.CONTROLLER,
            ),
        ),
        agreement_version=agreement.version,
        reference=(
            f"POST {path}: {verb} {practitioner.organisation_code}/{practitioner.practitioner_id} "
            f"as {body.role.value} ({body.scope.value}); event {accepted.event_id}"
        ),
    )
    await record_disclosures(request, [trail])
    return accepted
