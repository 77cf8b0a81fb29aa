"""HTTP routes for identity review: a person decides what the demographic rule only proposed.

Confirming a link publishes a ``PERSON_MERGED`` case-event (source system ``hub-api``, the
reviewer's organisation as source), so the merge is on the log and a replay rebuilds the same
index. Linking widens what each record's readers see of the other, so it is a change of sharing
decided by :func:`hub.sharing.changes.decide_change` (roles the agreement names; 403 with the
reason otherwise) and kept in the change log. Rejecting one closes the task. Statutory partners
only: they hold the records being linked.
"""

from __future__ import annotations

from dataclasses import asdict
from enum import StrEnum
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Request
from pydantic import BaseModel, ConfigDict

from hub.events import NHS_NUMBER_SYSTEM, PersonIdentifier, PersonMerged
from hub.http.authentication import reader_identity
from hub.http.sharing import CHANGE_RESPONSES, EventAccepted, publish_from_api
from hub.identity.store import IdentityStore
from hub.services.sharing_changes import Attempt, check_change, record_change
from hub.sharing.agreement import Agreement, ChangeKind
from hub.sharing.changes import Change
from hub.sharing.policy import Recipient

Reader = Annotated[Recipient, Depends(reader_identity)]


class Decision(StrEnum):
    LINK = "LINK"
    DISTINCT = "DISTINCT"


class ReviewDecisionIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    decision: Decision


def _statutory(request: Request, reader: Recipient) -> None:
    agreement: Agreement = request.app.state.agreement
    if not agreement.is_statutory(reader.organisation_code):
        raise HTTPException(403, "identity review is for statutory partners")


def identifier(key: str) -> PersonIdentifier:
    """Back from an identifier key (NHS number, or ``system|value``)."""
    system, _, value = key.rpartition("|")
    return PersonIdentifier(system=system or NHS_NUMBER_SYSTEM, value=value)


def identity_router() -> APIRouter:
    router = APIRouter(tags=["identity"])

    @router.get("/identity/reviews", summary="Possible matches waiting for a person's decision")
    def open_reviews(reader: Reader, request: Request) -> list[dict[str, Any]]:
        _statutory(request, reader)
        store: IdentityStore = request.app.state.identity
        return [asdict(review) for review in store.open_reviews()]

    @router.post(
        "/identity/reviews/{review_id}",
        status_code=202,
        response_model=EventAccepted | None,
        responses={
            **CHANGE_RESPONSES,
            404: {"description": "No such open review."},
            409: {"description": "One of the persons has no identifiers left."},
        },
    )
    async def decide_review(
        review_id: str, body: ReviewDecisionIn, reader: Reader, request: Request
    ) -> EventAccepted | None:
        _statutory(request, reader)
        store: IdentityStore = request.app.state.identity
        review = next((r for r in store.open_reviews() if r.review_id == review_id), None)
        if review is None:
            raise HTTPException(404, f"no open review {review_id}")
        accepted = None
        if body.decision is Decision.LINK:
            survivor = [identifier(k) for k in store.keys_of(review.candidate_id)]
            merged = [identifier(k) for k in store.keys_of(review.person_id)]
            if not survivor or not merged:
                raise HTTPException(409, "one of the persons has no identifiers left")
            attempt = Attempt(
                reader,
                Change(ChangeKind.IDENTITY_LINK_CONFIRMED),
                survivor[0].key(),
                channel="api",
                reference=f"{request.method} {request.url.path}",
                evidence={"merged": [i.key() for i in merged]},
            )
            decision = check_change(request.app.state, attempt)
            if not decision.permitted:  # naming no recipients, a link is never held
                record_change(request.app.state, attempt, decision)
                raise HTTPException(403, decision.reason)
            accepted = await publish_from_api(
                request, reader, tuple(survivor), None, PersonMerged(merged=tuple(merged))
            )
            record_change(request.app.state, attempt, decision, event_id=accepted.event_id)
        status = "LINKED" if body.decision is Decision.LINK else "DISTINCT"
        store.close_review(review_id, status, reader.user_id, request.app.state.clock())
        return accepted

    return router
