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
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Final

from hub.events import (
    Characteristic,
    ExitReason,
    PermanenceOutcome,
    PlanType,
    ScoreInstrument,
    ScoreStage,
    ethnic_group,
)
from hub.outcomes.fold import Episode, PersonOutcomes, Score, merge_people

NOT_STATED: Final = "Not stated"
AGES: Final = (("14 days", 14), ("6 months", 182), ("12 months", 365))
HOME, PLAN, LOOKED_AFTER, AWAY = (
    "At home, no plan",
    "At home on a plan",
    "Looked after",
    "Permanent home away from parents",
)
PLACES: Final = (HOME, PLAN, LOOKED_AFTER, AWAY)
AWAY_OUTCOMES: Final = frozenset(
    {
        PermanenceOutcome.PLACED_FOR_ADOPTION,
        PermanenceOutcome.EARLY_PERMANENCE,
        PermanenceOutcome.SPECIAL_GUARDIANSHIP,
    }
)
GESTATION_BANDS: Final = (
    "Under 13 weeks",
    "13 to 19 weeks",
    "20 to 27 weeks",
    "28 weeks or more",
    "After the due date",
    "No pregnancy date",
)
ETHNIC_GROUPS: Final = ("Asian", "Black", "Mixed", "White", "Other", NOT_STATED)


@dataclass(frozen=True)
class Derived:
    """A rate or average column beside a table's counts, per row: a rate as (numerator,
    denominator), an average as (value, n). Hidden wherever count column ``guard`` is."""

    name: str
    guard: int
    rates: tuple[tuple[int, int], ...] | None = None
    averages: tuple[tuple[float | None, int], ...] | None = None


@dataclass(frozen=True)
class CountTable:
    """One table of true counts: rows labelled by ``row_headers``, with the margins that add up."""

    key: str
    title: str
    row_headers: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]
    columns: tuple[str, ...]
    counts: tuple[tuple[int, ...], ...]
    row_totals: bool = False
    column_totals: bool = False
    derived: tuple[Derived, ...] = field(default=())


def financial_quarter(day: date) -> str:
    """``2026-27 Q1`` for April to June 2026 (the UK public sector's reporting quarters)."""
    year = day.year if day.month >= 4 else day.year - 1
    quarter = (day.month - 4) % 12 // 3 + 1
    return f"{year}-{(year + 1) % 100:02d} Q{quarter}"


def programmes(records: Iterable[PersonOutcomes]) -> list[str]:
    """Every programme (service) the records hold an episode of."""
    return sorted({e.programme for r in records for e in r.episodes.values()})


@dataclass(frozen=True)
class _Case:
    """An episode with the person it is about."""

    person: PersonOutcomes
    episode: Episode

    @property
    def quarter(self) -> str:
        started = self.episode.started_on
        return financial_quarter(started) if started else NOT_STATED

    @property
    def pathway(self) -> str:
        return self.episode.pathway_at_referral or self.episode.pathway or NOT_STATED

    @property
    def accepted(self) -> bool:
        return self.episode.accepted_on is not None

    @property
    def engaged(self) -> bool:
        e = self.episode
        return self.accepted and (e.first_contact_on is not None or (e.sessions_attended or 0) > 0)

    @property
    def completed(self) -> bool:
        return self.episode.exit_reason is ExitReason.COMPLETED


def figures(records: Sequence[PersonOutcomes], programme: str, as_of: date) -> list[CountTable]:
    """Every table of the programme's report, as of ``as_of`` (babies' ages, open episodes);
    the records of one person under several identifiers are counted as one."""
    records = merge_people(records)
    cases = [_Case(r, e) for r in records for e in r.episodes.values() if e.programme == programme]
    cases.sort(key=lambda c: (c.quarter, c.pathway, c.episode.organisation))
    babies = babies_of(records, programme)
    return [
        _funnel(cases),
        _engagement(cases),
        _gestation(cases),
        _appointments(cases, as_of),
        _places(babies, as_of, "babies_by_pathway", "Pathway", lambda b: b[1].pathway),
        _places(
            babies,
            as_of,
            "babies_by_birth_quarter",
            "Quarter of birth",
            lambda b: financial_quarter(b[0].birth_date or date.min),
        ),
        _entered_care(babies, as_of),
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
    cases: Iterable[_Case], key: Callable[[_Case], tuple[str, ...]]
) -> dict[tuple[str, ...], list[_Case]]:
    groups: dict[tuple[str, ...], list[_Case]] = defaultdict(list)
    for case in cases:
        groups[key(case)].append(case)
    return dict(sorted(groups.items()))


FUNNEL: Final = ("Referred", "Accepted", "Declined", "Engaged", "Exited", "Completed")


def _funnel_row(group: Sequence[_Case]) -> tuple[int, ...]:
    return (
        len(group),
        sum(c.accepted for c in group),
        sum(c.episode.declined_on is not None for c in group),
        sum(c.engaged for c in group),
        sum(c.episode.exited_on is not None for c in group),
        sum(c.completed for c in group),
    )


def _funnel(cases: Sequence[_Case]) -> CountTable:
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


def _engagement(cases: Sequence[_Case]) -> CountTable:
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


def _band(case: _Case) -> str:
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


def _gestation(cases: Sequence[_Case]) -> CountTable:
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


def _appointments(cases: Sequence[_Case], as_of: date) -> CountTable:
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


Baby = tuple[PersonOutcomes, _Case]


def babies_of(records: Sequence[PersonOutcomes], programme: str) -> list[Baby]:
    """Each baby the programme counts, with the mother's episode it counts under."""
    by_key: dict[str, PersonOutcomes] = {}
    for record in records:
        for key in (record.subject_key, *record.identifier_keys):
            by_key.setdefault(key, record)
    found = []
    for baby in records:
        if baby.birth_date is None:
            continue
        born = baby.birth_date
        mothers = {id(m): m for k in baby.mother_keys if (m := by_key.get(k)) is not None}
        open_then = [
            _Case(mother, e)
            for mother in mothers.values()
            for e in mother.episodes.values()
            if e.programme == programme
            and e.accepted_on is not None
            and (e.started_on or e.accepted_on) <= born + timedelta(days=365)
            and (e.exited_on is None or e.exited_on >= born - timedelta(weeks=40))
        ]
        if open_then:
            open_then.sort(key=lambda c: (c.episode.started_on or date.min, c.episode.referral_id))
            found.append((baby, open_then[-1]))
    found.sort(key=lambda b: (b[0].birth_date or date.min, b[0].subject_key))
    return found


def place_on(baby: PersonOutcomes, day: date) -> str:
    """Where the baby was on ``day`` (the module's docstring says in which order)."""
    decided = sorted((on, outcome) for outcome, on in baby.permanence.values() if on <= day)
    if decided and decided[-1][1] in AWAY_OUTCOMES:
        return AWAY
    home_since = max(
        (on for on, o in decided if o is PermanenceOutcome.RETURNED_HOME), default=None
    )
    active = [
        p.plan_type
        for p in baby.plans.values()
        if p.started_on <= day and (p.ended_on is None or p.ended_on > day)
    ]
    looked_after = [
        p
        for p in baby.plans.values()
        if p.plan_type is PlanType.LOOKED_AFTER
        and p.started_on <= day
        and (p.ended_on is None or p.ended_on > day)
        and (home_since is None or home_since < p.started_on)
    ]
    if looked_after:
        return LOOKED_AFTER
    if PlanType.CHILD_PROTECTION in active or PlanType.CHILD_IN_NEED in active:
        return PLAN
    return HOME


def _places(
    babies: Sequence[Baby], as_of: date, key: str, header: str, group: Callable[[Baby], str]
) -> CountTable:
    rows: dict[tuple[str, str], list[int]] = {}
    for label, days in AGES:
        for baby in babies:
            assert baby[0].birth_date is not None
            day = baby[0].birth_date + timedelta(days=days)
            if day > as_of:
                continue
            row = rows.setdefault((group(baby), label), [0] * len(PLACES))
            row[PLACES.index(place_on(baby[0], day))] += 1
    order = {label: i for i, (label, _) in enumerate(AGES)}
    labels = sorted(rows, key=lambda r: (r[0], order[r[1]]))
    return CountTable(
        key=key,
        title=f"Babies' outcomes at 14 days, 6 and 12 months, by {header.lower()}",
        row_headers=(header, "Age"),
        rows=tuple(labels),
        columns=PLACES,
        counts=tuple(tuple(rows[label]) for label in labels),
        row_totals=True,
    )


def _entered_care(babies: Sequence[Baby], as_of: date) -> CountTable:
    groups: dict[str, list[int]] = {}
    for baby, _ in babies:
        assert baby.birth_date is not None
        if baby.birth_date + timedelta(days=14) > as_of:
            continue
        row = groups.setdefault(financial_quarter(baby.birth_date), [0, 0])
        row[0] += 1
        cutoff = baby.birth_date + timedelta(days=14)
        row[1] += any(
            p.plan_type is PlanType.LOOKED_AFTER and p.started_on <= cutoff
            for p in baby.plans.values()
        )
    labels = sorted(groups)
    counts = tuple(tuple(groups[label]) for label in labels)
    return CountTable(
        key="entered_care",
        title="Babies entering care within 14 days of birth",
        row_headers=("Quarter of birth",),
        rows=tuple((label,) for label in labels),
        columns=("Babies born", "Entered care within 14 days"),
        counts=counts,
        column_totals=True,
        derived=(
            Derived(
                "Entered care within 14 days (%)", 1, rates=tuple((c[1], c[0]) for c in counts)
            ),
        ),
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


def _scores(cases: Sequence[_Case], as_of: date) -> CountTable:
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
    cases: Sequence[_Case],
    key: str,
    title: str,
    header: str,
    labels: Sequence[str],
    groups_of: Callable[[_Case], list[str]],
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
