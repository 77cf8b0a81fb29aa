"""HTTP routes for identity review: a person decides what the demographic rule only proposed.

Thin over :mod:`hub.services.identity_review`: confirming a link publishes a ``PERSON_MERGED``
case-event once the sharing policy permits it (403 with the reason otherwise; the attempt is
in the change log); rejecting one closes the task. Statutory partners only.
"""

from __future__ import annotations

from dataclasses import asdict
from enum import StrEnum
from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict

from hub.http.dependencies import ChangeStoresDep, Reader, Reference, SinkDep
from hub.http.shapes import CHANGE_RESPONSES, EventAccepted
from hub.services import identity_review


class Decision(StrEnum):
    LINK = "LINK"
    DISTINCT = "DISTINCT"


class ReviewDecisionIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    decision: Decision


def identity_router() -> APIRouter:
    router = APIRouter(tags=["identity"])

    @router.get("/identity/reviews", summary="Possible matches waiting for a person's decision")
    def open_reviews(reader: Reader, stores: ChangeStoresDep) -> list[dict[str, Any]]:
        return [asdict(review) for review in identity_review.open_reviews(stores, reader)]

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
        review_id: str,
        body: ReviewDecisionIn,
        reader: Reader,
        stores: ChangeStoresDep,
        sink: SinkDep,
        reference: Reference,
    ) -> EventAccepted | None:
        stated = await identity_review.decide_review(
            stores,
            sink,
            reader,
            review_id,
            link=body.decision is Decision.LINK,
            reference=reference,
        )
        return EventAccepted.of(stated) if stated is not None else None

    return router
