"""What the programme's figures are made of: tables of true counts (before disclosure
control, :mod:`hub.outcomes.report`), the quarters they count in, and an episode with its
person (pure). The definitions are in :mod:`hub.outcomes.figures`'s docstring."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from typing import Final

from hub.outcomes.fold import Episode, PersonOutcomes
from hub.vocabulary import ExitReason

NOT_STATED: Final = "Not stated"


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


@dataclass(frozen=True)
class Case:
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
