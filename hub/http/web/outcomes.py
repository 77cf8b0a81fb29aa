"""The programme manager's page: the quarter's funnel, babies' outcomes and score change, drawn
server-side (:mod:`hub.outcomes.charts`, readable without JavaScript), each chart beside the
table of its numbers, every table below, and the CSV download.

It reads through :func:`hub.services.outcomes.programme_report`, the API's own path: only a
``PROGRAMME_MANAGER``, every figure through disclosure control, the report recorded as an
aggregate disclosure before the page is sent. Signing in is the inbox's (:mod:`session`).
"""

from __future__ import annotations

import asyncio
from datetime import date
from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse

from hub.http.dependencies import OutcomesDep, Reference, SharingContextDep
from hub.http.web.session import PageReader as Reader
from hub.http.web.templating import TEMPLATES
from hub.outcomes.charts import charts
from hub.services.outcomes import programme_report


def outcomes_page_router() -> APIRouter:
    router = APIRouter(tags=["outcomes"], include_in_schema=False)

    @router.get("/outcomes", response_class=HTMLResponse)
    async def outcomes_page(
        request: Request,
        reader: Reader,
        store: OutcomesDep,
        context: SharingContextDep,
        reference: Reference,
        programme: Annotated[str, Query(min_length=1, max_length=200)],
        as_of: date | None = None,
    ) -> HTMLResponse:
        report = await programme_report(
            store, context, reader, programme, as_of=as_of, reference=reference
        )
        drawn = await asyncio.to_thread(charts, report)
        shown = {table.key for _, table in drawn}
        return TEMPLATES.TemplateResponse(
            request,
            "outcomes.html",
            {
                "reader": reader,
                "report": report,
                "charts": drawn,
                "others": [t for t in report.tables if t.key not in shown],
            },
        )

    return router
