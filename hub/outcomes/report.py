"""A programme's report as it may be published: every figure through disclosure control.

Pure: :func:`publish` takes the true tables (:func:`hub.outcomes.figures.figures`) and the
agreement's rule and returns only published figures (a hidden one has no value); :func:`to_csv`
writes them as one tidy CSV (one line per figure). Nothing else of the tables leaves.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime

from hub.outcomes.disclosure_control import (
    Published,
    protect_counts,
    protect_rate,
    protect_statistic,
)
from hub.outcomes.tables import CountTable, Derived
from hub.sharing.agreement import DisclosureControl

TOTAL = "Total"


@dataclass(frozen=True)
class PublishedRow:
    labels: tuple[str, ...]
    cells: tuple[Published, ...]


@dataclass(frozen=True)
class PublishedTable:
    key: str
    title: str
    row_headers: tuple[str, ...]
    columns: tuple[str, ...]  # the counts', then the rates' and averages'
    rows: tuple[PublishedRow, ...]
    total: PublishedRow | None  # the column totals (and the grand total) where they add up
    hidden: int  # figures not shown

    def as_json(self) -> dict[str, object]:
        def row(r: PublishedRow) -> dict[str, object]:
            return {
                "labels": list(r.labels),
                "cells": [{"text": c.text, "value": c.value, "hidden": c.hidden} for c in r.cells],
            }

        return {
            "key": self.key,
            "title": self.title,
            "row_headers": list(self.row_headers),
            "columns": list(self.columns),
            "rows": [row(r) for r in self.rows],
            "total": row(self.total) if self.total else None,
            "hidden": self.hidden,
        }


@dataclass(frozen=True)
class ProgrammeReport:
    programme: str
    as_of: date
    generated_at: datetime
    rule: DisclosureControl
    tables: tuple[PublishedTable, ...]

    @property
    def figures(self) -> int:
        return sum(len(r.cells) for t in self.tables for r in (*t.rows, *filter(None, [t.total])))

    @property
    def hidden(self) -> int:
        return sum(t.hidden for t in self.tables)

    def table(self, key: str) -> PublishedTable:
        return next(t for t in self.tables if t.key == key)

    def as_json(self) -> dict[str, object]:
        return {
            "programme": self.programme,
            "as_of": self.as_of.isoformat(),
            "generated_at": self.generated_at.isoformat(),
            "disclosure_control": self.rule.model_dump(),
            "figures": self.figures,
            "hidden": self.hidden,
            "tables": [t.as_json() for t in self.tables],
        }


def publish_table(table: CountTable, rule: DisclosureControl) -> PublishedTable:
    """One table through disclosure control: counts suppressed, totals added, rates and
    averages shown only on enough people and never over a hidden count."""
    counts = protect_counts(
        table.counts,
        rule,
        row_totals=table.row_totals,
        column_totals=table.column_totals,
        width=len(table.columns),
    )
    columns = [*table.columns, *((TOTAL,) if table.row_totals else ())]
    columns += [d.name for d in table.derived]
    rows = []
    for index, labels in enumerate(table.rows):
        cells = list(counts.cells[index])
        if counts.row_totals is not None:
            cells.append(counts.row_totals[index])
        for derived in table.derived:
            guarded = counts.cells[index][derived.guard].hidden is not None
            if derived.rates is not None:
                numerator, denominator = derived.rates[index]
                cells.append(protect_rate(numerator, denominator, rule, count_hidden=guarded))
            elif derived.averages is not None:
                value, n = derived.averages[index]
                cells.append(protect_statistic(None if guarded else value, n, rule))
        rows.append(PublishedRow(labels, tuple(cells)))
    total = None
    if counts.column_totals is not None:
        cells = list(counts.column_totals)
        if counts.grand_total is not None:
            cells.append(counts.grand_total)
        for derived in table.derived:
            cells.append(_total_derived(derived, counts.column_totals[derived.guard], rule))
        blank = ("",) * (len(table.row_headers) - 1)
        total = PublishedRow((TOTAL, *blank), tuple(cells))
    return PublishedTable(
        key=table.key,
        title=table.title,
        row_headers=table.row_headers,
        columns=tuple(columns),
        rows=tuple(rows),
        total=total,
        hidden=sum(c.hidden is not None for r in (*rows, *filter(None, [total])) for c in r.cells),
    )


def _total_derived(derived: Derived, guard: Published, rule: DisclosureControl) -> Published:
    """A rate's total is the rate of the totals; an average of averages is no average, so the
    total row leaves an average blank."""
    if derived.rates is None:
        return Published("", None)
    numerator = sum(n for n, _ in derived.rates)
    denominator = sum(d for _, d in derived.rates)
    return protect_rate(numerator, denominator, rule, count_hidden=guard.hidden is not None)


def publish(
    tables: Sequence[CountTable],
    rule: DisclosureControl,
    *,
    programme: str,
    as_of: date,
    generated_at: datetime,
) -> ProgrammeReport:
    return ProgrammeReport(
        programme=programme,
        as_of=as_of,
        generated_at=generated_at,
        rule=rule,
        tables=tuple(publish_table(t, rule) for t in tables),
    )


CSV_HEADER = ("programme", "as_of", "table", "title", "row", "column", "figure")


def to_csv(report: ProgrammeReport) -> str:
    """One line per published figure: the table, the row's labels (joined by " / "), the
    column, and the figure as shown (the suppression symbol where hidden)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(CSV_HEADER)
    for table in report.tables:
        for row in (*table.rows, *filter(None, [table.total])):
            label = " / ".join(part for part in row.labels if part)
            for column, cell in zip(table.columns, row.cells, strict=True):
                writer.writerow(
                    (
                        report.programme,
                        report.as_of,
                        table.key,
                        table.title,
                        label,
                        column,
                        cell.text,
                    )
                )
    return out.getvalue()
