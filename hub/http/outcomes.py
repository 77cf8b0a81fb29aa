"""``GET /outcomes/report`` and ``/outcomes/report.csv``: a programme's figures, safe to publish.

Thin over :func:`hub.services.outcomes.programme_report`: a ``PROGRAMME_MANAGER`` of a party
to the agreement reads aggregates only, every figure through the agreement's disclosure
control, the report recorded as an aggregate disclosure before it is answered (503 if the record
was not taken). The CSV is the same figures, one line per figure.
"""

from __future__ import annotations

from datetime import date
from typing import Annotated

from fastapi import APIRouter, Query, Response
from pydantic import BaseModel, Field

from hub.http.dependencies import OutcomesDep, Reader, Reference, SharingContextDep
from hub.http.openapi import NOT_FOUND
from hub.outcomes.disclosure_control import Hidden
from hub.outcomes.report import to_csv
from hub.services.outcomes import programme_report

Programme = Annotated[
    str,
    Query(
        min_length=1,
        max_length=200,
        description="The programme, as its referrals name it (e.g. `Strengthening Families`).",
    ),
]
AsOf = Annotated[
    date | None,
    Query(description="Count babies' ages and open episodes as of this date (default: today)."),
]


class CellOut(BaseModel):
    text: str = Field(description='The figure as published: a number, or the rule\'s "c".')
    value: float | None = Field(description="The number; null where it is not shown.")
    hidden: Hidden | None = Field(
        description="Why it is not shown: a small count (PRIMARY), "
        "revealed by a total (SECONDARY), too few people (DENOMINATOR)."
    )


class RowOut(BaseModel):
    labels: list[str]
    cells: list[CellOut]


class TableOut(BaseModel):
    key: str
    title: str
    row_headers: list[str]
    columns: list[str]
    rows: list[RowOut]
    total: RowOut | None
    hidden: int


class ReportOut(BaseModel):
    programme: str
    as_of: date
    generated_at: str
    disclosure_control: dict[str, object] = Field(description="The agreement's rule applied.")
    figures: int
    hidden: int
    tables: list[TableOut]


def outcomes_router() -> APIRouter:
    router = APIRouter(tags=["outcomes"])

    @router.get(
        "/outcomes/report",
        response_model=ReportOut,
        summary="A programme's figures (aggregates under disclosure control), for its manager",
        responses=NOT_FOUND,
    )
    async def report(
        reader: Reader,
        store: OutcomesDep,
        context: SharingContextDep,
        reference: Reference,
        programme: Programme,
        as_of: AsOf = None,
    ) -> dict[str, object]:
        found = await programme_report(
            store, context, reader, programme, as_of=as_of, reference=reference
        )
        return found.as_json()

    @router.get(
        "/outcomes/report.csv",
        response_class=Response,
        summary="The same figures as CSV, one line per figure",
        responses={
            200: {"content": {"text/csv": {}}, "description": "The figures, as published."},
            **NOT_FOUND,
        },
    )
    async def report_csv(
        reader: Reader,
        store: OutcomesDep,
        context: SharingContextDep,
        reference: Reference,
        programme: Programme,
        as_of: AsOf = None,
    ) -> Response:
        found = await programme_report(
            store, context, reader, programme, as_of=as_of, reference=reference
        )
        name = "".join(ch if ch.isalnum() else "-" for ch in programme.lower())
        return Response(
            to_csv(found),
            media_type="text/csv; charset=utf-8",
            headers={
                "Content-Disposition": f'attachment; filename="outcomes-{name}-{found.as_of}.csv"'
            },
        )

    return router
