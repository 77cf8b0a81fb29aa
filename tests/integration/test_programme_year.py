"""A synthetic programme year through the real connectors into the outcomes store, and the
report's figures checked against an independent count of the same events.

The files are what the partners' systems would send (hub.outcomes.synthetic): the charity's
activity feed, the programme midwife's clinic list, the council's births and SSDA903 episodes,
each read and mapped by its own connector; the events are folded by the store a batch at a
time, as the worker does. The independent count below shares no code with the figures.
"""

from __future__ import annotations

import io
import json
import os
import statistics
from collections import Counter, defaultdict
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import TypeVar

import pytest

from hub.connectors.csc.ssda903 import SSDA903Episodes
from hub.connectors.sdk import Connector, ConnectorConfig
from hub.connectors.voluntary.activity import ActivityConfig, VoluntaryActivity
from hub.events import CaseEvent, EventType
from hub.outcomes import synthetic
from hub.outcomes.report import ProgrammeReport, to_csv
from hub.outcomes.store import OutcomesStore
from hub.payloads import (
    BirthRegistered,
    PermanenceRecorded,
    PlanEnded,
    PlanStarted,
    ReferralReceived,
)
from hub.services.outcomes import build_report
from hub.sharing.agreement import load_agreement
from hub.storage.engine import make_engine
from hub.storage.positions import BatchEntry

C = TypeVar("C", bound=ConnectorConfig)
AS_OF = date(2026, 11, 30)
NOW = datetime(2026, 12, 1, 9, tzinfo=UTC)
ARTEFACTS = Path(os.environ.get("HUB_TEST_ARTEFACTS", "test-artefacts"))


def mapped(connector: Connector[C], config: C, text: str) -> list[CaseEvent]:
    events = []
    for record in connector.read(io.BytesIO(text.encode()), "year.csv"):
        events.extend(connector.map(record, config, NOW))  # raises on a refused row
    return events


@pytest.fixture(scope="module")
def year_events() -> list[CaseEvent]:
    year = synthetic.programme_year()
    activity = VoluntaryActivity()
    charity = ActivityConfig(
        system="homestart-lamplight",
        organisation_code=synthetic.CHARITY,
        programme=synthetic.PROGRAMME,
    )
    clinic = ActivityConfig(
        system="rm3-sf-midwife",
        organisation_code=synthetic.TRUST,
        programme=synthetic.PROGRAMME,
        session_service_type="antenatal",
    )
    births = ActivityConfig(system="salford-lcs-births", organisation_code=synthetic.COUNCIL)
    episodes = ConnectorConfig(system="salford-lac", organisation_code=synthetic.COUNCIL)
    return [
        *mapped(activity, charity, year.activity),
        *mapped(activity, clinic, year.clinic),
        *mapped(activity, births, year.births),
        *mapped(SSDA903Episodes(), episodes, year.episodes),
    ]


@pytest.fixture(scope="module")
def report(
    year_events: list[CaseEvent], tmp_path_factory: pytest.TempPathFactory
) -> ProgrammeReport:
    path = tmp_path_factory.mktemp("year") / "hub.db"
    store = OutcomesStore(make_engine(f"sqlite:///{path}"))
    store.create_schema()
    for start in range(0, len(year_events), 500):
        batch = year_events[start : start + 500]
        store.apply_batch(
            "family-events", 0, [BatchEntry(start + i, e, None) for i, e in enumerate(batch)]
        )
    made = build_report(store.records(), synthetic.PROGRAMME, load_agreement(), AS_OF, NOW)
    ARTEFACTS.mkdir(parents=True, exist_ok=True)
    (ARTEFACTS / "programme-year.csv").write_text(to_csv(made))
    (ARTEFACTS / "programme-year.json").write_text(json.dumps(made.as_json(), indent=1))
    return made


def quarter_of(day: date) -> str:
    start = day.year - (day.month < 4)
    return f"{start}-{str(start + 1)[2:]} Q{(day.month + 8) % 12 // 3 + 1}"


def cell(report: ProgrammeReport, table: str, labels: tuple[str, ...], column: str) -> str:
    found = report.table(table)
    row = found.total if labels == ("Total",) else next(r for r in found.rows if r.labels == labels)
    assert row is not None
    return row.cells[found.columns.index(column)].text


def test_the_year_is_thousands_of_families(year_events: list[CaseEvent]) -> None:
    kinds = Counter(e.event_type for e in year_events)
    assert kinds[EventType.REFERRAL_RECEIVED] == 2000
    assert kinds[EventType.BIRTH_REGISTERED] > 1000
    assert len(year_events) > 20_000


def test_referrals_and_acceptances_match_an_independent_count(
    year_events: list[CaseEvent], report: ProgrammeReport
) -> None:
    referred: Counter[tuple[str, str]] = Counter()
    for e in year_events:
        if isinstance(e.payload, ReferralReceived):
            referred[(quarter_of(e.occurred_at.date()), e.payload.pathway or "")] += 1
    accepted = sum(e.event_type is EventType.PROGRAMME_REFERRAL_ACCEPTED for e in year_events)
    assert cell(report, "funnel", ("Total",), "Referred") == str(sum(referred.values()))
    assert cell(report, "funnel", ("Total",), "Accepted") == str(accepted)
    for (quarter, pathway), count in referred.items():
        shown = cell(report, "funnel", (quarter, pathway, synthetic.CHARITY), "Referred")
        assert shown == (str(count) if count >= 5 else "c")


def test_babies_in_care_match_an_independent_count(
    year_events: list[CaseEvent], report: ProgrammeReport
) -> None:
    born: dict[str, date] = {}
    for e in year_events:
        if isinstance(e.payload, BirthRegistered):
            child = next(i.key() for i in e.subject if i.system.endswith(":child"))
            born[child] = e.payload.birth_date
    started: dict[str, date] = {}
    ended: dict[str, date] = {}
    adopted: dict[str, date] = {}
    for e in year_events:
        key = e.subject_key()
        if isinstance(e.payload, PlanStarted):
            started[key] = e.payload.started_on
        elif isinstance(e.payload, PlanEnded):
            ended[key] = e.payload.ended_on
        elif (
            isinstance(e.payload, PermanenceRecorded) and e.payload.outcome.value != "RETURNED_HOME"
        ):
            adopted[key] = e.payload.recorded_on
    reached = [c for c, b in born.items() if b + timedelta(days=14) <= AS_OF]
    within_14 = [c for c in reached if c in started and started[c] <= born[c] + timedelta(days=14)]
    assert cell(report, "entered_care", ("Total",), "Babies born") == str(len(reached))
    assert cell(report, "entered_care", ("Total",), "Entered care within 14 days") == str(
        len(within_14)
    )

    a_year = [c for c, b in born.items() if b + timedelta(days=365) <= AS_OF]

    def looked_after(child: str) -> bool:
        day = born[child] + timedelta(days=365)
        return (child in started and started[child] <= day
                and not (child in ended and ended[child] <= day)
                and not (child in adopted and adopted[child] <= day))  # fmt: skip

    by_pathway: Counter[str] = Counter()
    pathway_of = {}
    for e in year_events:
        if e.event_type is EventType.REFERRAL_RECEIVED:
            assert isinstance(e.payload, ReferralReceived)
            pathway_of[e.subject_key()] = e.payload.pathway or ""
    mother_of = {
        next(i.key() for i in e.subject if i.system.endswith(":child")): e.payload.mother[0].key()
        for e in year_events
        if isinstance(e.payload, BirthRegistered)
    }
    for child in a_year:
        if looked_after(child):
            by_pathway[pathway_of[mother_of[child]]] += 1
    assert by_pathway, "some babies are looked after at 12 months"
    for pathway, count in by_pathway.items():
        shown = cell(report, "babies_by_pathway", (pathway, "12 months"), "Looked after")
        assert shown in (str(count), "c")
        if count >= 5:
            assert shown == str(count)


def test_wemwbs_change_matches_an_independent_mean(
    year_events: list[CaseEvent], report: ProgrammeReport
) -> None:
    scores: dict[str, dict[str, int]] = defaultdict(dict)
    pathway_of: dict[str, str] = {}
    for e in year_events:
        payload = e.payload
        if e.event_type is EventType.ASSESSMENT_SCORE_RECORDED:
            scores[e.subject_key()][payload.stage.value] = payload.score  # type: ignore[union-attr]
        if isinstance(payload, ReferralReceived):
            pathway_of[e.subject_key()] = payload.pathway or ""
    for pathway in ("A", "B", "C"):
        changes = [s["EXIT"] - s["ENTRY"] for k, s in scores.items()
                   if len(s) == 2 and pathway_of[k] == pathway]  # fmt: skip
        labels = ("WEMWBS", pathway)
        assert cell(report, "scores", labels, "People with entry and exit scores") == str(
            len(changes)
        )
        assert (
            cell(report, "scores", labels, "Mean change")
            == f"{round(statistics.fmean(changes), 1):.1f}"
        )


def test_the_report_hides_what_it_must_and_says_so(report: ProgrammeReport) -> None:
    assert report.hidden > 0
    for table in report.tables:
        for row in table.rows:
            for column, figure in zip(table.columns, row.cells, strict=True):
                if figure.hidden is None and figure.value is not None and "%" not in column:
                    assert (
                        figure.value == 0
                        or figure.value >= 5
                        or "Mean" in column
                        or "Median" in column
                    )
