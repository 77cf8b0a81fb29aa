"""The midwife's alert inbox: server-rendered pages over the same routes' logic.

Every page reads through :func:`hub.http.alerts.released_alerts` — the sharing gate
for the signed-in reader, with the disclosure recorded before the page is sent — and acknowledges
or closes through :func:`hub.http.alerts.change_alert`, the API's own path. The page
adds no rule of its own: what the API would withhold, the page withholds.

A midwife signs in with her API key (:mod:`hub.http.web.session`); forms post back with the session
cookie (``SameSite=Strict``), and a post whose ``Origin`` is not this hub is refused, so another
site cannot acknowledge an alert on a midwife's behalf.
"""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Form, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse

from hub.alerts.store import MissedAppointmentStore
from hub.http.alerts import (
    AlertOut,
    acknowledgement,
    change_alert,
    closure,
    released_alerts,
)
from hub.http.team import team_of_person
from hub.http.web.session import PageReader as Reader
from hub.http.web.templating import TEMPLATES, same_origin
from hub.sharing.disclosure import Channel
from hub.sharing.policy import Recipient

DONE = {
    "acknowledged": "Acknowledgement recorded. The alert shows as acknowledged as soon as the "
    "hub has applied it (usually within seconds).",
    "closed": "Closure recorded. The alert leaves your inbox as soon as the hub has applied it.",
}


def _page(request: Request, name: str, reader: Recipient, **context: Any) -> HTMLResponse:
    return TEMPLATES.TemplateResponse(request, name, {"reader": reader, **context})


def inbox_router() -> APIRouter:
    router = APIRouter(tags=["inbox"], include_in_schema=False)

    @router.get("/inbox", response_class=HTMLResponse)
    async def inbox(request: Request, reader: Reader) -> HTMLResponse:
        store: MissedAppointmentStore = request.app.state.store
        views = store.open_alerts_for(reader.practitioner)
        alerts = await released_alerts(request, reader, views, channel=Channel.API)
        return _page(request, "inbox.html", reader, alerts=alerts)

    @router.get("/inbox/alerts/{alert_id}", response_class=HTMLResponse)
    async def alert_page(
        alert_id: uuid.UUID, request: Request, reader: Reader, done: str | None = None
    ) -> HTMLResponse:
        shown, subject_key = await _alert_for(request, reader, alert_id)
        # The team around the family beside the alert, through the gate like the team API.
        team = await team_of_person(request, reader, subject_key)
        return _page(
            request, "alert.html", reader, alert=shown, team=team, done=DONE.get(done or "")
        )

    @router.post("/inbox/alerts/{alert_id}/acknowledge")
    async def acknowledge(
        alert_id: uuid.UUID,
        request: Request,
        reader: Reader,
        note: Annotated[str, Form(max_length=2000)] = "",
    ) -> RedirectResponse:
        same_origin(request)
        payload = acknowledgement(reader, alert_id, note or None)
        await change_alert(request, reader, alert_id, payload)
        return RedirectResponse(f"/inbox/alerts/{alert_id}?done=acknowledged", status_code=303)

    @router.post("/inbox/alerts/{alert_id}/close")
    async def close(
        alert_id: uuid.UUID,
        request: Request,
        reader: Reader,
        reason: Annotated[str, Form(min_length=3, max_length=2000)],
    ) -> RedirectResponse:
        same_origin(request)
        payload = closure(reader, alert_id, reason)
        await change_alert(request, reader, alert_id, payload)
        return RedirectResponse(f"/inbox/alerts/{alert_id}?done=closed", status_code=303)

    return router


async def _alert_for(
    request: Request, reader: Recipient, alert_id: uuid.UUID
) -> tuple[AlertOut, str]:
    """The alert as the reader may see it, and whom it is about (the key, for the team view);
    404 unless addressed to her and released to her."""
    store: MissedAppointmentStore = request.app.state.store
    view = store.alert(alert_id)
    if view is None or reader.practitioner not in view.alert.addressed_to():
        raise HTTPException(404, f"no alert {alert_id} addressed to you")
    shown = await released_alerts(request, reader, [view], channel=Channel.API)
    if not shown:
        raise HTTPException(404, f"no alert {alert_id} you may see")
    return shown[0], view.alert.subject_key
