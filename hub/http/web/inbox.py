"""The midwife's alert inbox: server-rendered pages over the API's own use cases.

Every page reads through :mod:`hub.services.alerts` — the sharing gate for the signed-in
reader, with the disclosure recorded before the page is sent — and acknowledges or closes
through :func:`hub.services.alerts.change_alert`, the API's own path; the team beside an alert
is :func:`hub.services.team.team_of_person`, as the team API reads it. The page adds no rule of
its own: what the API would withhold, the page withholds.

A midwife signs in with her API key (:mod:`hub.http.web.session`); forms post back with the session
cookie (``SameSite=Strict``), and a post whose ``Origin`` is not this hub is refused, so another
site cannot acknowledge an alert on a midwife's behalf.
"""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse

from hub.disclosures import Channel
from hub.http.dependencies import (
    AlertsDep,
    ClockDep,
    IdentityDep,
    Reference,
    SharingContextDep,
    SinkDep,
    TeamDep,
)
from hub.http.web.i18n import N_, correspondence_languages
from hub.http.web.session import PageReader as Reader
from hub.http.web.templating import render, same_origin
from hub.services.alerts import (
    acknowledgement,
    addressed_alert,
    change_alert,
    closure,
    released_alerts,
)
from hub.services.team import team_of_person
from hub.sharing.policy import Recipient

DONE = {
    "acknowledged": N_(
        "Acknowledgement recorded. The alert shows as acknowledged as soon as the hub has "
        "applied it (usually within seconds)."
    ),
    "closed": N_(
        "Closure recorded. The alert leaves your inbox as soon as the hub has applied it."
    ),
}


def _page(request: Request, name: str, reader: Recipient, **context: Any) -> HTMLResponse:
    return render(request, name, {"reader": reader, **context})


def inbox_router() -> APIRouter:
    router = APIRouter(tags=["inbox"], include_in_schema=False)

    @router.get("/inbox", response_class=HTMLResponse)
    async def inbox(
        request: Request,
        reader: Reader,
        alerts: AlertsDep,
        context: SharingContextDep,
        reference: Reference,
    ) -> HTMLResponse:
        views = alerts.open_alerts_for(reader.practitioner)
        shown = await released_alerts(
            context, reader, views, channel=Channel.API, reference=reference
        )
        return _page(request, "inbox.html", reader, alerts=shown)

    @router.get("/inbox/alerts/{alert_id}", response_class=HTMLResponse)
    async def alert_page(
        alert_id: uuid.UUID,
        request: Request,
        reader: Reader,
        alerts: AlertsDep,
        identity: IdentityDep,
        team: TeamDep,
        context: SharingContextDep,
        reference: Reference,
        done: str | None = None,
    ) -> HTMLResponse:
        shown, subject_key = await addressed_alert(
            alerts, context, reader, alert_id, reference=reference
        )
        # The team around the family beside the alert, through the gate like the team API.
        around = await team_of_person(
            identity, team, context, reader, subject_key, reference=reference
        )
        # What to write to them in (Welsh Language Standards): from their recorded preference,
        # both languages, Welsh first, where none is recorded; nothing where they are withheld.
        write_in = correspondence_languages(shown.person.language) if shown.person else ()
        return _page(
            request,
            "alert.html",
            reader,
            alert=shown,
            team=around,
            write_in=write_in,
            done=DONE.get(done or ""),
        )

    @router.post("/inbox/alerts/{alert_id}/acknowledge")
    async def acknowledge(
        alert_id: uuid.UUID,
        request: Request,
        reader: Reader,
        alerts: AlertsDep,
        sink: SinkDep,
        clock: ClockDep,
        note: Annotated[str, Form(max_length=2000)] = "",
    ) -> RedirectResponse:
        same_origin(request)
        payload = acknowledgement(reader, alert_id, note or None)
        await change_alert(alerts, sink, clock, reader, alert_id, payload)
        return RedirectResponse(f"/inbox/alerts/{alert_id}?done=acknowledged", status_code=303)

    @router.post("/inbox/alerts/{alert_id}/close")
    async def close(
        alert_id: uuid.UUID,
        request: Request,
        reader: Reader,
        alerts: AlertsDep,
        sink: SinkDep,
        clock: ClockDep,
        reason: Annotated[str, Form(min_length=3, max_length=2000)],
    ) -> RedirectResponse:
        same_origin(request)
        payload = closure(reader, alert_id, reason)
        await change_alert(alerts, sink, clock, reader, alert_id, payload)
        return RedirectResponse(f"/inbox/alerts/{alert_id}?done=closed", status_code=303)

    return router
