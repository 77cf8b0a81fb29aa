"""Where the programme's babies were at 14 days, 6 and 12 months, and who entered care (pure).

A baby counts under its mother's latest accepted episode open around the birth; the order of
places (away from the parents, looked after, on a plan, at home) is defined, with the other
figures, in :mod:`hub.outcomes.figures`'s docstring."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import date, timedelta
from typing import Final

from hub.outcomes.fold import PersonOutcomes
from hub.outcomes.tables import Case, CountTable, Derived, financial_quarter
from hub.vocabulary import PermanenceOutcome, PlanType

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


Baby = tuple[PersonOutcomes, Case]


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
            Case(mother, e)
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


def places(
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


def entered_care(babies: Sequence[Baby], as_of: date) -> CountTable:
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
