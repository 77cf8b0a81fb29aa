"""Server-Sent Events: a practitioner's live view of the alerts addressed to her.

``GET /practitioners/{id}/alerts/stream`` (``text/event-stream``) follows the alert change feed
and sends each change of an alert addressed to the reader as it lands, as the sharing policy
lets her see it *at that moment*: every event passes
:func:`hub.services.alert_release.release_alerts` (gate, then the disclosure recorded) before
it is written. A withheld alert sends nothing. The event ``id`` is the feed's ``seq``, so a
client reconnecting with ``Last-Event-ID`` resumes after the last event it received; without it
the stream starts with changes from now on. If a disclosure cannot be recorded the stream ends
(nothing is sent) and the client's reconnection resumes where it was.

A plain :class:`~fastapi.responses.StreamingResponse`: no extra dependency.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import APIRouter, Header, HTTPException, Request
from fastapi.responses import StreamingResponse

from hub.alerts.changes import changes_after, last_seq
from hub.alerts.store import MissedAppointmentStore
from hub.disclosures import Channel
from hub.http.authentication import PRACTITIONER_RESPONSES, Organisation, named_practitioner
from hub.http.dependencies import AlertsDep, Reader, SharingContextDep
from hub.kafka.publisher import PublishError
from hub.services.alert_release import release_alerts
from hub.services.release import SharingContext
from hub.settings import Settings
from hub.sharing.policy import Recipient
from hub.subscriptions.rules import sse_event, wants

KEEPALIVE_SECONDS = 15.0


def start_after(last_event_id: str | None, newest: int) -> int:
    """Where a stream starts: after the client's ``Last-Event-ID`` if it is a feed ``seq``
    (no later than the newest), else after the newest change (from now on)."""
    given = (last_event_id or "").strip()
    # ASCII digits only ("٣".isdigit() too), and no more than a seq can be: a 40-digit id
    # would overflow the SQL integer it is compared with.
    if given.isascii() and given.isdigit() and int(given) <= newest:
        return int(given)
    return newest


async def alert_events(
    store: MissedAppointmentStore,
    context: SharingContext,
    reader: Recipient,
    cursor: int,
    *,
    poll_seconds: float,
    reference: str,
    disconnected: asyncio.Event | None = None,
) -> AsyncIterator[str]:
    """The stream's text: gated, recorded events for ``reader`` after ``cursor``; comments as
    keep-alives. Ends when a disclosure cannot be recorded (or ``disconnected`` is set)."""
    yield f"retry: {int(max(poll_seconds, 1.0) * 1000)}\n\n"
    idle = 0.0
    while disconnected is None or not disconnected.is_set():
        changes = changes_after(store.engine, cursor, 100)
        for change in changes:
            cursor = change.seq
            view = store.alert(change.alert_id)
            if view is None or not wants(reader, view.alert):
                continue
            try:
                shown = await release_alerts(
                    context,
                    reader,
                    [view],
                    channel=Channel.ALERT,
                    reference=f"{reference} seq {change.seq}",
                )
            except PublishError:
                return  # nothing sent; the client resumes from its Last-Event-ID
            if shown:
                yield sse_event(change, shown[0])
        if not changes:
            await asyncio.sleep(poll_seconds)
            idle += poll_seconds
            if idle >= KEEPALIVE_SECONDS:
                idle = 0.0
                yield ": keep-alive\n\n"


def stream_router(settings: Settings) -> APIRouter:
    router = APIRouter(tags=["alerts"])

    @router.get(
        "/practitioners/{practitioner_id}/alerts/stream",
        summary="Server-Sent Events: changes of alerts addressed to you, as they happen",
        response_class=StreamingResponse,
        responses={200: {"content": {"text/event-stream": {}}}, **PRACTITIONER_RESPONSES},
    )
    async def stream(
        practitioner_id: str,
        request: Request,
        reader: Reader,
        store: AlertsDep,
        context: SharingContextDep,
        last_event_id: Annotated[str | None, Header()] = None,
        organisation: Organisation = None,
    ) -> StreamingResponse:
        """Only the practitioner herself (her organisation and id): a live push is hers, not a
        supervisor's view."""
        if named_practitioner(reader, practitioner_id, organisation) != reader.practitioner:
            raise HTTPException(403, "an alert stream is read by the practitioner it is for")
        cursor = start_after(last_event_id, last_seq(store.engine))
        gone = asyncio.Event()

        async def events() -> AsyncIterator[str]:
            async for text in alert_events(
                store,
                context,
                reader,
                cursor,
                poll_seconds=settings.stream_poll_seconds,
                reference=f"GET {request.url.path}",
                disconnected=gone,
            ):
                if await request.is_disconnected():
                    gone.set()
                    return
                yield text

        return StreamingResponse(
            events(),
            media_type="text/event-stream",
            headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
        )

    return router
