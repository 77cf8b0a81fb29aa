"""The integration engineer's error queue page: server-rendered over the queue's use cases.

The list and the item are :mod:`hub.services.quarantine` with the signed-in engineer as the
actor — only their own organisation's input, and opening an item records a disclosure of every
person its raw input names before the page is sent — and the replay and dismiss buttons are
:mod:`hub.services.quarantine_replay` and :func:`hub.services.quarantine.dismiss`, the API's
own paths. Forms post with the session cookie and are refused from another origin.

The page is in the reader's language (:func:`hub.http.web.templating.render`, as the inbox);
the queue's codes (a status, a channel, a replay's result) are shown by :data:`WORDS`, while
what a source sent and what the hub found wrong with it stay as written: an error message
names a field of the source's own format, and the engineer searches for it as it is.
"""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse

from hub.errorqueue.fold import Channel, Engineer, Filter, Status
from hub.http.dependencies import QueueDep, Reference
from hub.http.web.i18n import N_
from hub.http.web.session import PageReader as Reader
from hub.http.web.templating import render, same_origin
from hub.services import quarantine, quarantine_replay
from hub.sharing.policy import Recipient

# The queue's codes as the page names them (Status, Channel, quarantine_replay.Result values);
# a code not here (MLLP, FHIR) is shown as it is.
WORDS: dict[str, str] = {
    "open": N_("open"),
    "corrected": N_("corrected"),
    "replayed": N_("replayed"),
    "dismissed": N_("dismissed"),
    "maps": N_("maps"),
    "still-fails": N_("still fails"),
    "not-replayable": N_("not replayable"),
    "erased": N_("erased"),
    "webhook": N_("webhook"),
    "upload": N_("upload"),
    "extract": N_("extract"),
    "dead-letter": N_("dead letter"),
}


def _engineer(reader: Recipient) -> Engineer:
    return Engineer(reader.organisation_code, reader.role, reader.user_id)


def _page(request: Request, name: str, reader: Recipient, **context: Any) -> HTMLResponse:
    return render(request, name, {"reader": reader, "queue_words": WORDS, **context})


def queue_router() -> APIRouter:
    router = APIRouter(tags=["error queue"], include_in_schema=False)

    @router.get("/queue", response_class=HTMLResponse)
    def queue_page(
        request: Request,
        reader: Reader,
        queue: QueueDep,
        channel: Channel | None = None,
        status: Status | None = None,
        reason: str | None = None,
    ) -> HTMLResponse:
        wanted = Filter(channel=channel, status=status, reason=reason or None)
        entries = quarantine.list_items(queue[0], _engineer(reader), wanted)
        return _page(
            request,
            "queue.html",
            reader,
            entries=entries,
            channels=list(Channel),
            statuses=list(Status),
            chosen={"channel": channel, "status": status, "reason": reason or ""},
        )

    @router.get("/queue/{item_id}", response_class=HTMLResponse)
    async def item_page(
        item_id: uuid.UUID,
        request: Request,
        reader: Reader,
        queue: QueueDep,
        reference: Reference,
        done: str | None = None,
    ) -> HTMLResponse:
        shown = await quarantine.show_item(
            queue[0], _engineer(reader), item_id, reference=reference
        )
        return _page(request, "queue_item.html", reader, shown=shown, done=done)

    @router.post("/queue/{item_id}/replay")
    async def replay(
        item_id: uuid.UUID,
        request: Request,
        reader: Reader,
        queue: QueueDep,
        dry_run: Annotated[bool, Form()] = False,
    ) -> RedirectResponse:
        same_origin(request)
        context, mappers = queue
        [result] = await quarantine_replay.replay(
            context, mappers, _engineer(reader), [item_id], dry_run=dry_run
        )
        return RedirectResponse(f"/queue/{item_id}?done={result.result.value}", status_code=303)

    @router.post("/queue/{item_id}/dismiss")
    def dismiss(
        item_id: uuid.UUID,
        request: Request,
        reader: Reader,
        queue: QueueDep,
        reason: Annotated[str, Form(min_length=3, max_length=2000)],
    ) -> RedirectResponse:
        same_origin(request)
        quarantine.dismiss(queue[0], _engineer(reader), item_id, reason)
        return RedirectResponse(f"/queue/{item_id}?done=dismissed", status_code=303)

    return router
