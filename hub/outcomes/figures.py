"""The programme figures, counted from the outcomes projection's records (before disclosure
control, which :mod:`hub.outcomes.report` applies).

Pure: records in, tables of true counts out. docs/programme-monitoring.md says what each figure
means; the definitions are here, once:

* An **episode** is one referral (its id) to the programme; it counts in the financial-year
  quarter (April-June is Q1) of its referral, else its acceptance or decline date, under the
  **pathway at referral** and the organisation whose system first told of it.
* **Engaged**: accepted, and a first contact or at least one session attended.
* **Gestation at referral**: 40 weeks less the time from referral to the expected delivery date
  (on the referral, else the pregnancy's relationship record).
* **Health appointments**: the mother's appointments other than the programme's own sessions,
  from acceptance to exit (or the report date); missed over attended plus missed.
* **A baby** counts for the programme when born to a mother whose accepted episode was open at
  some time from 40 weeks before the birth to 12 months after it (the latest such episode). At
  each age reached (14 days, 6 and 12 months) the baby is in one place: a permanent home away
  from the parents (adoption, early permanence, special guardianship), else looked after, else
  at home on a plan (child protection or child in need), else at home with no plan.
* **Score change**: per person and instrument, the first score marked entry (or unmarked) and
  the last marked exit (or unmarked) after it, within the programme; exit minus entry.
"""

from __future__ import annotations

import statistics
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from datetime import date
from typing import Final

from hub.outcomes.babies import babies_of, entered_care, places
from hub.outcomes.fold import PersonOutcomes, Score, merge_people
from hub.outcomes.tables import NOT_STATED, Case, CountTable, Derived, financial_quarter
from hub.vocabulary import Characteristic, ScoreInstrument, ScoreStage, ethnic_group

GESTATION_BANDS: Final = (
    "Under 13 weeks",
    "13 to 19 weeks",
    "20 to 27 weeks",
    "28 weeks or more",
    "After the due date",
    "No pregnancy date",
)
ETHNIC_GROUPS: Final = ("Asian", "Black", "Mixed", "White", "Other", NOT_STATED)


def programmes(records: Iterable[PersonOutcomes]) -> list[str]:
    """Every programme (service) the records hold an episode of."""
    return sorted({e.programme for r in records for e in r.episodes.values()})


def figures(records: Sequence[PersonOutcomes], programme: str, as_of: date) -> list[CountTable]:
    """Every table of the programme's report, as of ``as_of`` (babies' ages, open episodes);
    the records of one person under several identifiers are counted as one."""
    records = merge_people(records)
    cases = [Case(r, e) for r in records for e in r.episodes.values() if e.programme == programme]
    cases.sort(key=lambda c: (c.quarter, c.pathway, c.episode.organisation))
    babies = babies_of(records, programme)
    return [
        _funnel(cases),
        _engagement(cases),
        _gestation(cases),
        _appointments(cases, as_of),
        places(babies, as_of, "babies_by_pathway", "Pathway", lambda b: b[1].pathway),
        places(
            babies,
            as_of,
            "babies_by_birth_quarter",
            "Quarter of birth",
            lambda b: financial_quarter(b[0].birth_date or date.min),
        ),
        entered_care(babies, as_of),
        _scores(cases, as_of),
        _breakdown(
            cases,
            "by_ethnic_group",
            "Episodes by ethnic group (ONS groups)",
            "Ethnic group",
            ETHNIC_GROUPS,
            lambda c: [ethnic_group(c.person.characteristics.ethnicity)],
            totals=True,
        ),
        _breakdown(
            cases,
            "by_characteristic",
            "Episodes by parent's characteristic at referral (a family may have several)",
            "Characteristic",
            tuple(ch.value for ch in Characteristic),
            lambda c: [ch.value for ch in c.person.characteristics.characteristics],
            totals=False,
        ),
    ]


def _grouped(
    cases: Iterable[Case], key: Callable[[Case], tuple[str, ...]]
) -> dict[tuple[str, ...], list[Case]]:
    groups: dict[tuple[str, ...], list[Case]] = defaultdict(list)
    for case in cases:
        groups[key(case)].append(case)
    return dict(sorted(groups.items()))


FUNNEL: Final = ("Referred", "Accepted", "Declined", "Engaged", "Exited", "Completed")


def _funnel_row(group: Sequence[Case]) -> tuple[int, ...]:
    return (
        len(group),
        sum(c.accepted for c in group),
        sum(c.episode.declined_on is not None for c in group),
        sum(c.engaged for c in group),
        sum(c.episode.exited_on is not None for c in group),
        sum(c.completed for c in group),
    )


def _funnel(cases: Sequence[Case]) -> CountTable:
    groups = _grouped(cases, lambda c: (c.quarter, c.pathway, c.episode.organisation))
    rows = [_funnel_row(g) for g in groups.values()]
    return CountTable(
        key="funnel",
        title="Referrals, acceptances, engagement and exits",
        row_headers=("Quarter", "Pathway", "Organisation"),
        rows=tuple(groups),
        columns=FUNNEL,
        counts=tuple(rows),
        column_totals=True,
        derived=(Derived("Accepted (%)", 1, rates=tuple((r[1], r[0]) for r in rows)),),
    )


def _engagement(cases: Sequence[Case]) -> CountTable:
    groups = _grouped((c for c in cases if c.accepted), lambda c: (c.quarter, c.pathway))
    counts, sessions, days = [], [], []
    for group in groups.values():
        offered = [c.episode for c in group if c.episode.sessions_offered]
        waits = [
            (e.first_contact_on - e.referred_on).days
            for e in (c.episode for c in group)
            if e.first_contact_on and e.referred_on
        ]
        counts.append(
            (
                len(group),
                len(offered),
                sum(c.episode.first_contact_on is not None for c in group),
                sum(c.episode.fgc_held for c in group),
                sum(c.episode.dads_worker for c in group),
            )
        )
        sessions.append(
            (
                sum(e.sessions_attended or 0 for e in offered),
                sum(e.sessions_offered or 0 for e in offered),
            )
        )
        days.append((statistics.median(waits) if waits else None, len(waits)))
    return CountTable(
        key="engagement",
        title="Engagement of accepted families",
        row_headers=("Quarter", "Pathway"),
        rows=tuple(groups),
        columns=(
            "Accepted",
            "Offered sessions",
            "First contact made",
            "Family Group Conference held",
            "Dad's worker involved",
        ),
        counts=tuple(counts),
        column_totals=True,
        derived=(
            Derived("Sessions attended of offered (%)", 1, rates=tuple(sessions)),
            Derived("Median days, referral to first contact", 2, averages=tuple(days)),
        ),
    )


def _band(case: Case) -> str:
    edd = case.episode.expected_delivery_date or case.person.expected_delivery_date
    referred = case.episode.referred_on or case.episode.started_on
    if edd is None or referred is None:
        return GESTATION_BANDS[5]
    if referred > edd:
        return GESTATION_BANDS[4]
    weeks = 40 - (edd - referred).days / 7
    if weeks < 0:
        return GESTATION_BANDS[5]  # referred more than 40 weeks before the due date
    if weeks < 13:
        return GESTATION_BANDS[0]
    if weeks < 20:
        return GESTATION_BANDS[1]
    if weeks < 28:
        return GESTATION_BANDS[2]
    return GESTATION_BANDS[3]


def _gestation(cases: Sequence[Case]) -> CountTable:
    groups = _grouped(cases, lambda c: (c.quarter,))
    rows = [
        tuple(sum(_band(c) == band for c in g) for band in GESTATION_BANDS) for g in groups.values()
    ]
    return CountTable(
        key="gestation",
        title="Gestation at referral",
        row_headers=("Quarter",),
        rows=tuple(groups),
        columns=GESTATION_BANDS,
        counts=tuple(rows),
        row_totals=True,
        column_totals=True,
    )


def _appointments(cases: Sequence[Case], as_of: date) -> CountTable:
    groups = _grouped((c for c in cases if c.accepted), lambda c: (c.quarter, c.pathway))
    counts, rates = [], []
    for group in groups.values():
        attended = missed = people = 0
        for case in group:
            start = case.episode.accepted_on or date.min
            end = case.episode.exited_on or as_of
            seen = [
                a for a in case.person.appointments.values() if a.health and start <= a.on <= end
            ]
            people += bool(seen)
            attended += sum(a.attended for a in seen)
            missed += sum(not a.attended for a in seen)
        counts.append((people, attended, missed))
        rates.append((missed, attended + missed))
    return CountTable(
        key="appointments",
        title="Health appointments during the programme",
        row_headers=("Quarter", "Pathway"),
        rows=tuple(groups),
        columns=("Parents with appointments", "Attended", "Missed"),
        counts=tuple(counts),
        column_totals=True,
        derived=(Derived("Missed (%)", 2, rates=tuple(rates)),),
    )


def score_pair(scores: Iterable[Score]) -> tuple[Score, Score] | None:
    """Entry and exit of one instrument (the module's docstring), or None without both."""
    ordered = sorted(scores, key=lambda s: s.measured_on)
    entry = next((s for s in ordered if s.stage in (ScoreStage.ENTRY, None)), None)
    if entry is None:
        return None
    later = [
        s
        for s in ordered
        if s.measured_on > entry.measured_on and s.stage in (ScoreStage.EXIT, None)
    ]
    return (entry, later[-1]) if later else None


def _scores(cases: Sequence[Case], as_of: date) -> CountTable:
    pairs: dict[tuple[str, str], list[tuple[int, int]]] = defaultdict(list)
    for case in cases:
        if not case.accepted:
            continue
        start = case.episode.started_on or date.min
        end = case.episode.exited_on or as_of
        for instrument in ScoreInstrument:
            pair = score_pair(
                s
                for s in case.person.scores.values()
                if s.instrument is instrument
                and s.programme in (None, case.episode.programme)
                and start <= s.measured_on <= end
            )
            if pair:
                pairs[(instrument.value, case.pathway)].append((pair[0].score, pair[1].score))
    labels = sorted(pairs)
    found = [pairs[label] for label in labels]

    def mean(values: list[int]) -> float | None:
        return statistics.fmean(values) if values else None

    return CountTable(
        key="scores",
        title="Change in SDQ and WEMWBS between entry and exit (SDQ: lower is better)",
        row_headers=("Measure", "Pathway"),
        rows=tuple(labels),
        columns=("People with entry and exit scores",),
        counts=tuple((len(p),) for p in found),
        derived=(
            Derived(
                "Mean at entry", 0, averages=tuple((mean([a for a, _ in p]), len(p)) for p in found)
            ),
            Derived(
                "Mean at exit", 0, averages=tuple((mean([b for _, b in p]), len(p)) for p in found)
            ),
            Derived(
                "Mean change",
                0,
                averages=tuple((mean([b - a for a, b in p]), len(p)) for p in found),
            ),
        ),
    )


BREAKDOWN: Final = ("Referred", "Accepted", "Engaged", "Completed")


def _breakdown(
    cases: Sequence[Case],
    key: str,
    title: str,
    header: str,
    labels: Sequence[str],
    groups_of: Callable[[Case], list[str]],
    *,
    totals: bool,
) -> CountTable:
    rows: dict[str, list[int]] = {label: [0, 0, 0, 0] for label in labels}
    for case in cases:
        for label in groups_of(case):
            row = rows.setdefault(label, [0, 0, 0, 0])
            row[0] += 1
            row[1] += case.accepted
            row[2] += case.engaged
            row[3] += case.completed
    return CountTable(
        key=key,
        title=title,
        row_headers=(header,),
        rows=tuple((label,) for label in rows),
        columns=BREAKDOWN,
        counts=tuple(tuple(row) for row in rows.values()),
        column_totals=totals,
    )
