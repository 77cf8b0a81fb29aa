"""Statistical disclosure control: a table of counts made safe to publish (ADR 0031).

Pure: counts in, published cells out; the rule is the agreement's ``[disclosure_control]``
(:class:`hub.sharing.agreement.DisclosureControl`). It is how UK official statistics protect
small counts in tables of people (the GSS guidance on disclosure control of tables):

1. **Primary suppression.** A count from 1 to ``threshold - 1`` is not shown (nor 0 with
   ``suppress_zeros``); a published total is a count like any other.
2. **Secondary suppression.** A published total is a sum its cells must add up to, so a line
   (a row with its row total, a column with its column total, and the margins with the grand
   total) with exactly one hidden member would give it away by subtraction. Such a line has one
   more member hidden: its smallest non-zero shown cell (a small one costs the reader least),
   else a zero, else its total. Repeated until no line has exactly one hidden member.
3. **Rates and averages** are shown only on a denominator (or number of people) of
   ``min_denominator`` or more, and never when the count under them is hidden.

A hidden cell carries no value at all (``value`` None): what is not shown is not in the JSON.
The check is per table; the same people counted in two tables of different breakdowns can
still be differenced across tables, which is why the reports keep breakdowns coarse (ONS
ethnic groups, not the 17 categories) and the rule's threshold is the agreement's to raise.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum

from hub.sharing.agreement import DisclosureControl


class Hidden(StrEnum):
    """Why a figure is not shown."""

    PRIMARY = "PRIMARY"  # a small count
    SECONDARY = "SECONDARY"  # would be revealed by a total
    DENOMINATOR = "DENOMINATOR"  # a rate or average on too few, or on a hidden count


@dataclass(frozen=True)
class Published:
    """One published figure: its text, and its value only if shown."""

    text: str
    value: float | None
    hidden: Hidden | None = None


@dataclass(frozen=True)
class ProtectedCounts:
    """A table of counts after suppression, with the margins that were asked for."""

    cells: tuple[tuple[Published, ...], ...]
    row_totals: tuple[Published, ...] | None
    column_totals: tuple[Published, ...] | None
    grand_total: Published | None

    def hidden_count(self) -> int:
        every = [c for row in self.cells for c in row]
        every += [*(self.row_totals or ()), *(self.column_totals or ())]
        every += [self.grand_total] if self.grand_total else []
        return sum(c.hidden is not None for c in every)


# A position in the table: ("cell", row, column), ("row", row), ("column", column), ("grand",).
Position = tuple[object, ...]


def protect_counts(
    counts: Sequence[Sequence[int]],
    rule: DisclosureControl,
    *,
    row_totals: bool = False,
    column_totals: bool = False,
    width: int | None = None,
) -> ProtectedCounts:
    """Suppress ``counts`` (rows of equal length, each a count of people) by ``rule``, with
    the row and column totals (and the grand total, when both) computed and published.

    Ask for a margin only where its lines add up: a funnel's columns (referred, accepted) are
    nested, not parts of a whole, so such a table has column totals but no row totals.
    ``width`` is the number of columns, which a table with no rows (no baby yet old enough to
    count) cannot tell: its column totals are then zeros, not missing.
    """
    if width is None:
        width = len(counts[0]) if counts else 0
    if any(len(row) != width for row in counts):
        raise ValueError("every row of a table has the same number of cells")
    values: dict[Position, int] = {}
    for r, row in enumerate(counts):
        for c, count in enumerate(row):
            if count < 0:
                raise ValueError(f"a count is never negative (row {r}, column {c}: {count})")
            values[("cell", r, c)] = count
    if row_totals:
        for r, row in enumerate(counts):
            values[("row", r)] = sum(row)
    if column_totals:
        for c in range(width):
            values[("column", c)] = sum(row[c] for row in counts)
    if row_totals and column_totals:
        values[("grand",)] = sum(map(sum, counts))
    hidden: dict[Position, Hidden] = {
        position: Hidden.PRIMARY for position, value in values.items() if _small(value, rule)
    }
    lines = _lines(len(counts), width, row_totals=row_totals, column_totals=column_totals)
    _secondary(lines, values, hidden)

    def published(position: Position) -> Published:
        return count_figure(values[position], rule, hidden.get(position))

    return ProtectedCounts(
        cells=tuple(
            tuple(published(("cell", r, c)) for c in range(width)) for r in range(len(counts))
        ),
        row_totals=tuple(published(("row", r)) for r in range(len(counts))) if row_totals else None,
        column_totals=tuple(published(("column", c)) for c in range(width))
        if column_totals
        else None,
        grand_total=published(("grand",)) if row_totals and column_totals else None,
    )


def count_figure(value: int, rule: DisclosureControl, hidden: Hidden | None = None) -> Published:
    """A single count as published: hidden if small (or ``hidden`` says so)."""
    reason = hidden or (Hidden.PRIMARY if _small(value, rule) else None)
    if reason is not None:
        return Published(rule.symbol, None, reason)
    return Published(str(value), float(value))


def protect_rate(
    numerator: int,
    denominator: int,
    rule: DisclosureControl,
    *,
    count_hidden: bool = False,
    scale: float = 100.0,
    digits: int = 1,
) -> Published:
    """``numerator / denominator`` (a percentage by default), or hidden: on a denominator below
    ``min_denominator``, or when the count it is a rate of is hidden in its table (the rate
    times the denominator would give it back)."""
    if count_hidden or denominator < rule.min_denominator or denominator == 0:
        return Published(rule.symbol, None, Hidden.DENOMINATOR)
    rate = round(scale * numerator / denominator, digits)
    return Published(f"{rate:.{digits}f}", rate)


def protect_statistic(
    value: float | None, n: int, rule: DisclosureControl, digits: int = 1
) -> Published:
    """An average (a mean change, a median number of days) of ``n`` people, or hidden when
    ``n`` is below ``min_denominator``."""
    if value is None or n < rule.min_denominator:
        return Published(rule.symbol, None, Hidden.DENOMINATOR)
    shown = round(value, digits)
    return Published(f"{shown:.{digits}f}", shown)


def _small(value: int, rule: DisclosureControl) -> bool:
    return 0 < value < rule.threshold or (value == 0 and rule.suppress_zeros)


@dataclass(frozen=True)
class _Line:
    """A published sum: ``members`` add up to ``total``."""

    members: tuple[Position, ...]
    total: Position


def _lines(rows: int, width: int, *, row_totals: bool, column_totals: bool) -> list[_Line]:
    lines = []
    if row_totals:
        lines += [
            _Line(tuple(("cell", r, c) for c in range(width)), ("row", r)) for r in range(rows)
        ]
    if column_totals:
        lines += [
            _Line(tuple(("cell", r, c) for r in range(rows)), ("column", c)) for c in range(width)
        ]
    if row_totals and column_totals:
        lines.append(_Line(tuple(("row", r) for r in range(rows)), ("grand",)))
        lines.append(_Line(tuple(("column", c) for c in range(width)), ("grand",)))
    return lines


def _secondary(
    lines: Sequence[_Line], values: dict[Position, int], hidden: dict[Position, Hidden]
) -> None:
    """Hide one more member of every line with exactly one unknown, until none has."""
    changed = True
    while changed:
        changed = False
        for line in lines:
            unknowns = [p for p in (*line.members, line.total) if p in hidden]
            if len(unknowns) != 1:
                continue
            choice = _complement(line, values, hidden)
            if choice is not None:
                hidden[choice] = Hidden.SECONDARY
                changed = True


def _complement(
    line: _Line, values: dict[Position, int], hidden: dict[Position, Hidden]
) -> Position | None:
    """The member to hide with the line's one unknown: the smallest non-zero shown member,
    else a shown zero, else the total (a line of one member and its total hides both)."""
    shown = [p for p in line.members if p not in hidden]
    non_zero = sorted((p for p in shown if values[p] > 0), key=lambda p: (values[p], repr(p)))
    if non_zero:
        return non_zero[0]
    if shown:
        return shown[0]
    if line.total not in hidden:
        return line.total
    return None
