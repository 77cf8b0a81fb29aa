"""HTTP routes of the error queue (ADR 0030), for an organisation's ``INTEGRATION_ENGINEER``.

The same use cases as ``hub quarantine`` (:mod:`hub.services.quarantine`,
:mod:`hub.services.quarantine_replay`), with the engineer as the actor: only what their own
organisation's sources sent is listed, and anything else is "not found", as if it did not
exist; opening an item's raw input records a disclosure of every person it names before the
answer is sent.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query
from pydantic import BaseModel, ConfigDict, Field

from hub.errorqueue.fold import Channel, Engineer, Filter, Status
from hub.http.dependencies import QueueDep, Reader, Reference
from hub.services import quarantine, quarantine_replay
from hub.services.quarantine import Shown, entry_json
from hub.services.quarantine_replay import Replayed
from hub.sharing.policy import Recipient

ENGINEERS: dict[int | str, dict[str, Any]] = {
    401: {"description": "No or bad credentials."},
    403: {"description": "Not an INTEGRATION_ENGINEER."},
}
ONE_ITEM: dict[int | str, dict[str, Any]] = {
    **ENGINEERS,
    404: {"description": "No such item, or another organisation's (the same answer)."},
}


class DismissIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    reason: str = Field(min_length=1, description="Why the item needs nothing more.")


class CorrectionIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    content: str = Field(
        min_length=1, description="The corrected input: HL7 message, FHIR resource or CSV row."
    )
    why: str = Field(min_length=1, description="Why it was corrected (kept with the copy).")


class BulkReplayIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    source: str | None = None
    channel: Channel | None = None
    reason: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    dry_run: bool = Field(default=False, description="Map, say what would map, publish nothing.")


def engineer(reader: Recipient) -> Engineer:
    return Engineer(reader.organisation_code, reader.role, reader.user_id)


def shown_json(shown: Shown) -> dict[str, Any]:
    return {
        **entry_json(shown.entry),
        "reason": shown.reason,
        "errors": [{"location": e.location, "message": e.message} for e in shown.errors],
        "input": shown.text,
        "erased": shown.text is None and shown.entry_text is None,
        "located": [
            {"location": found.location, "segment": found.segment, "value": found.value}
            for found in shown.located
        ],
        "corrections": [
            {
                "at": c.at.isoformat(),
                "by": {"organisation_code": c.by_organisation, "user": c.by_user},
                "why": c.why,
                "content": c.text,
            }
            for c in shown.corrections
        ],
    }


def replayed_json(results: list[Replayed]) -> dict[str, Any]:
    return {
        "results": [
            {
                "item_id": str(r.item_id),
                "result": r.result.value,
                "events": r.events,
                "corrected": r.corrected,
                "errors": [{"location": e.location, "message": e.message} for e in r.errors],
            }
            for r in results
        ]
    }


def quarantine_router() -> APIRouter:
    router = APIRouter(prefix="/quarantine", tags=["error queue"])

    @router.get(
        "", summary="What the reader's organisation sent that was refused", responses=ENGINEERS
    )
    def list_items(
        reader: Reader,
        queue: QueueDep,
        source: str | None = None,
        channel: Channel | None = None,
        reason: Annotated[str | None, Query(description="Text in the reason or an error.")] = None,
        since: Annotated[datetime | None, Query(description="Last seen at or after.")] = None,
        until: Annotated[datetime | None, Query(description="Last seen before.")] = None,
        status: Status | None = None,
    ) -> dict[str, Any]:
        """The refused items of the reader's organisation, last seen first."""
        wanted = Filter(source, channel, reason, since, until, status)
        entries = quarantine.list_items(queue[0], engineer(reader), wanted)
        return {"items": [entry_json(entry) for entry in entries]}

    @router.get(
        "/{item_id}",
        summary="One refused item with its input and errors (a recorded disclosure)",
        responses=ONE_ITEM,
    )
    async def show(
        item_id: uuid.UUID, reader: Reader, queue: QueueDep, reference: Reference
    ) -> dict[str, Any]:
        """The item, its raw input decoded as far as it goes, every error in full, for HL7 the
        segment and value each error names, and its corrections. Every person the input names
        gets a disclosure record before this answers (503 when the log did not take it)."""
        shown = await quarantine.show_item(queue[0], engineer(reader), item_id, reference=reference)
        return shown_json(shown)

    @router.post(
        "/{item_id}/dismiss",
        summary="Dismiss an item, with the reason",
        responses={**ONE_ITEM, 409: {"description": "No reason given."}},
    )
    def dismiss(
        item_id: uuid.UUID, body: DismissIn, reader: Reader, queue: QueueDep
    ) -> dict[str, Any]:
        """Mark the item dismissed: it needs nothing more; a bulk replay leaves it alone."""
        return entry_json(quarantine.dismiss(queue[0], engineer(reader), item_id, body.reason))

    @router.post(
        "/{item_id}/corrections",
        status_code=201,
        summary="Keep a corrected copy of the item's input",
        responses={**ONE_ITEM, 409: {"description": "A dead letter, or no reason given."}},
    )
    def correct(
        item_id: uuid.UUID, body: CorrectionIn, reader: Reader, queue: QueueDep
    ) -> dict[str, Any]:
        """The copy is kept beside the original with who corrected it and why; the next replay
        maps it."""
        correction = quarantine.correct(
            queue[0], engineer(reader), item_id, body.content.encode(), body.why
        )
        return {"correction_id": str(correction.correction_id), "item_id": str(item_id)}

    @router.post(
        "/{item_id}/replay",
        summary="Map an item again with its connector's current configuration",
        responses=ONE_ITEM,
    )
    async def replay_one(
        item_id: uuid.UUID, reader: Reader, queue: QueueDep, dry_run: bool = False
    ) -> dict[str, Any]:
        """What now maps is published with the ids it would have had (replaying twice doubles
        nothing) and the item marked replayed; what still fails stays open with its errors."""
        context, mappers = queue
        results = await quarantine_replay.replay(
            context, mappers, engineer(reader), [item_id], dry_run=dry_run
        )
        return replayed_json(results)

    @router.post("/replay", summary="Replay every open item a filter takes", responses=ENGINEERS)
    async def replay_bulk(body: BulkReplayIn, reader: Reader, queue: QueueDep) -> dict[str, Any]:
        """Bulk replay, first seen first; ``dry_run`` says what would map."""
        context, mappers = queue
        wanted = Filter(body.source, body.channel, body.reason, body.since, body.until)
        results = await quarantine_replay.replay_matching(
            context, mappers, engineer(reader), wanted, dry_run=body.dry_run
        )
        return replayed_json(results)

    return router
