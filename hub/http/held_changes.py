"""HTTP routes for changes to sharing that were refused or held, and the review of held ones.

For the designated safeguarding lead and the Caldicott guardian
(:mod:`hub.services.governance`): what her organisation tried that the policy refused or held,
the held changes about people her organisation is involved with, and her decision on one —
applied (published as its recorder made it) or rejected, with a reason, in the change log
either way (:func:`hub.services.change_requests.review_held_change`).
"""

from __future__ import annotations

import uuid
from enum import StrEnum
from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field

from hub.http.dependencies import ChangesDep, ChangeStoresDep, Reader, Reference, SinkDep
from hub.http.shapes import CHANGE_RESPONSES, ChangeAnswer
from hub.services import change_requests, governance

GOVERNANCE_ONLY: dict[int | str, dict[str, Any]] = {
    401: {"description": "No or bad credentials."},
    403: {"description": "Not a governance role."},
}


class HeldDecision(StrEnum):
    APPLY = "APPLY"
    REJECT = "REJECT"


class HeldDecisionIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    decision: HeldDecision
    reason: str = Field(min_length=1, description="Why, in the reviewer's words.")


def held_changes_router() -> APIRouter:
    router = APIRouter(tags=["sharing"])

    @router.get(
        "/sharing/refused-changes",
        summary="Changes to sharing the reader's organisation tried that were refused or held",
        responses=GOVERNANCE_ONLY,
    )
    def refused_changes(reader: Reader, changes: ChangesDep) -> list[dict[str, Any]]:
        """For the designated safeguarding lead / Caldicott guardian: every attempt by her
        organisation's people or systems that the policy refused (DENY) or held (REVIEW)."""
        refused = governance.refused_changes(changes, reader)
        return [entry.model_dump(mode="json") for entry in refused]

    @router.get(
        "/sharing/held-changes",
        summary="Changes held for review that the reader's organisation may decide",
        responses=GOVERNANCE_ONLY,
    )
    def held_changes(reader: Reader, stores: ChangeStoresDep) -> list[dict[str, Any]]:
        """For the designated safeguarding lead / Caldicott guardian of a statutory party: the
        held changes about people her organisation holds records about or works with."""
        held = governance.held_changes(stores, reader)
        return [entry.model_dump(mode="json") for entry in held]

    @router.post(
        "/sharing/held-changes/{change_id}",
        status_code=202,
        response_model=ChangeAnswer,
        responses={
            **CHANGE_RESPONSES,
            403: {"description": "The reader may not review this change; the reason says why."},
            404: {"description": "No change held for review with this id."},
            409: {"description": "Already applied or rejected."},
        },
    )
    async def review_held_change(
        change_id: uuid.UUID,
        body: HeldDecisionIn,
        reader: Reader,
        stores: ChangeStoresDep,
        sink: SinkDep,
        reference: Reference,
    ) -> ChangeAnswer:
        """Apply (publish as its recorder made it) or reject a held change, with a reason."""
        result = await change_requests.review_held_change(
            stores,
            sink,
            reader,
            change_id,
            apply=body.decision is HeldDecision.APPLY,
            justification=body.reason,
            reference=reference,
        )
        return ChangeAnswer.of(result)

    return router
