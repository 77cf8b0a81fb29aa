"""The programme manager's page: the quarter's funnel, babies' outcomes and score change, drawn
server-side (:mod:`hub.outcomes.charts`, readable without JavaScript), each chart beside the
table of its numbers, every table below, and the CSV download.

It reads through :func:`hub.services.outcomes.programme_report`, the API's own path: only a
``PROGRAMME_MANAGER``, every figure through disclosure control, the report recorded as an
aggregate disclosure before the page is sent. Signing in is the inbox's (:mod:`session`).

The page is in the reader's language, as the inbox (:func:`hub.http.web.templating.render`),
charts included. The report itself is English (its CSV is a data file whose column and row
names other tools read), so the page names the report's fixed texts — titles, headings, stages,
places, ages, groups — through :data:`FIGURE_LABELS`, and shows data (a programme's, pathway's
or organisation's name, a quarter) as it is.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import date
from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse

from hub.http.dependencies import OutcomesDep, Reference, SharingContextDep
from hub.http.web.i18n import N_, Translator, translator
from hub.http.web.session import PageReader as Reader
from hub.http.web.templating import reader_language, render
from hub.outcomes.charts import charts
from hub.services.outcomes import programme_report

# Every fixed text of the report (hub.outcomes.figures, hub.outcomes.report) as the page names
# it; tests/unit/test_outcomes_labels.py fails on a text the report gains without an entry here.
FIGURE_LABELS: dict[str, str] = {
    # tables' titles
    "Referrals, acceptances, engagement and exits": N_(
        "Referrals, acceptances, engagement and exits"
    ),
    "Engagement of accepted families": N_("Engagement of accepted families"),
    "Gestation at referral": N_("Gestation at referral"),
    "Health appointments during the programme": N_("Health appointments during the programme"),
    "Babies' outcomes at 14 days, 6 and 12 months, by pathway": N_(
        "Babies' outcomes at 14 days, 6 and 12 months, by pathway"
    ),
    "Babies' outcomes at 14 days, 6 and 12 months, by quarter of birth": N_(
        "Babies' outcomes at 14 days, 6 and 12 months, by quarter of birth"
    ),
    "Babies entering care within 14 days of birth": N_(
        "Babies entering care within 14 days of birth"
    ),
    "Change in SDQ and WEMWBS between entry and exit (SDQ: lower is better)": N_(
        "Change in SDQ and WEMWBS between entry and exit (SDQ: lower is better)"
    ),
    "Episodes by ethnic group (ONS groups)": N_("Episodes by ethnic group (ONS groups)"),
    "Episodes by parent's characteristic at referral (a family may have several)": N_(
        "Episodes by parent's characteristic at referral (a family may have several)"
    ),
    # rows' headings
    "Quarter": N_("Quarter"),
    "Pathway": N_("Pathway"),
    "Organisation": N_("Organisation"),
    "Quarter of birth": N_("Quarter of birth"),
    "Age": N_("Age"),
    "Measure": N_("Measure"),
    "Ethnic group": N_("Ethnic group"),
    "Characteristic": N_("Characteristic"),
    "Total": N_("Total"),
    # the funnel's stages and the other columns
    "Referred": N_("Referred"),
    "Accepted": N_("Accepted"),
    "Declined": N_("Declined"),
    "Engaged": N_("Engaged"),
    "Exited": N_("Exited"),
    "Completed": N_("Completed"),
    "Accepted (%)": N_("Accepted (%)"),
    "Offered sessions": N_("Offered sessions"),
    "First contact made": N_("First contact made"),
    "Family Group Conference held": N_("Family Group Conference held"),
    "Dad's worker involved": N_("Dad's worker involved"),
    "Sessions attended of offered (%)": N_("Sessions attended of offered (%)"),
    "Median days, referral to first contact": N_("Median days, referral to first contact"),
    "Parents with appointments": N_("Parents with appointments"),
    "Attended": N_("Attended"),
    "Missed": N_("Missed"),
    "Missed (%)": N_("Missed (%)"),
    "Babies born": N_("Babies born"),
    "Entered care within 14 days": N_("Entered care within 14 days"),
    "Entered care within 14 days (%)": N_("Entered care within 14 days (%)"),
    "People with entry and exit scores": N_("People with entry and exit scores"),
    "Mean at entry": N_("Mean at entry"),
    "Mean at exit": N_("Mean at exit"),
    "Mean change": N_("Mean change"),
    # where a baby was, and when
    "At home, no plan": N_("At home, no plan"),
    "At home on a plan": N_("At home on a plan"),
    "Looked after": N_("Looked after"),
    "Permanent home away from parents": N_("Permanent home away from parents"),
    "14 days": N_("14 days"),
    "6 months": N_("6 months"),
    "12 months": N_("12 months"),
    # gestation at referral
    "Under 13 weeks": N_("Under 13 weeks"),
    "13 to 19 weeks": N_("13 to 19 weeks"),
    "20 to 27 weeks": N_("20 to 27 weeks"),
    "28 weeks or more": N_("28 weeks or more"),
    "After the due date": N_("After the due date"),
    "No pregnancy date": N_("No pregnancy date"),
    # ONS ethnic groups
    "Asian": N_("Asian"),
    "Black": N_("Black"),
    "Mixed": N_("Mixed"),
    "White": N_("White"),
    "Other": N_("Other"),
    "Not stated": N_("Not stated"),
    # parents' characteristics (hub.vocabulary.Characteristic codes)
    "CARE_EXPERIENCED": N_("care experienced"),
    "PREVIOUS_CHILD_REMOVED": N_("a previous child removed"),
    "PREVIOUS_CARE_PROCEEDINGS": N_("previous care proceedings"),
    "DOMESTIC_ABUSE": N_("domestic abuse"),
    "MENTAL_ILL_HEALTH": N_("mental ill health"),
    "SUBSTANCE_MISUSE": N_("substance misuse"),
    "LEARNING_DISABILITY": N_("learning disability"),
    "INSECURE_HOUSING": N_("insecure housing"),
    "SOCIAL_ISOLATION": N_("social isolation"),
    "OTHER": N_("other"),
}


def figure_label(words: Translator) -> Callable[[str], str]:
    """The report's fixed texts in ``words``' language; anything else (data) as it is."""
    return lambda text: words.text(FIGURE_LABELS[text]) if text in FIGURE_LABELS else text


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
        words = translator(reader_language(request))
        figure = figure_label(words)
        drawn = await asyncio.to_thread(charts, report, words.text, figure)
        shown = {table.key for _, table in drawn}
        return render(
            request,
            "outcomes.html",
            {
                "reader": reader,
                "report": report,
                "charts": drawn,
                "others": [t for t in report.tables if t.key not in shown],
                "figure": figure,
            },
        )

    return router
