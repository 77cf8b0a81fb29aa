"""The programme page's charts, drawn server-side as SVG with matplotlib (no JavaScript).

Only the published report goes in (:class:`hub.outcomes.report.ProgrammeReport`): a chart can
show nothing that disclosure control hid, and a hidden figure is drawn as no bar with the
suppression symbol as its label. Each chart has a text alternative; the page puts the numbers in
a table beside it.

A chart is drawn in the page's language: its own texts are written ``_("...")`` for the pages'
catalog to find (babel.cfg reads this module too) and ``_`` is the reader's translator; the
report's labels (a stage, a place, a pathway) go through ``label``, which names the report's
fixed texts in her language and leaves data (a pathway's name, a quarter) as it is. Both
default to English, so the module needs nothing of the web layer.
"""

from __future__ import annotations

import io
from collections.abc import Callable
from dataclasses import dataclass

import matplotlib

matplotlib.use("Agg")  # no display: render to files only

from matplotlib.figure import Figure

from hub.outcomes.babies import AGES, PLACES
from hub.outcomes.figures import FUNNEL
from hub.outcomes.report import ProgrammeReport, PublishedTable

Words = Callable[[str], str]


def _as_it_is(text: str) -> str:
    return text


COLOURS = ("#005eb8", "#41b6e6", "#d5281b", "#330072")  # NHS blue, light blue, red, purple


@dataclass(frozen=True)
class Chart:
    key: str
    title: str
    svg: str
    alt: str  # what the chart shows, in words


def _svg(figure: Figure) -> str:
    out = io.StringIO()
    figure.savefig(out, format="svg", bbox_inches="tight")
    text = out.getvalue()
    return text[text.index("<svg") :]  # inline: without the XML prolog and doctype


def funnel_chart(report: ProgrammeReport, _: Words = _as_it_is, label: Words = _as_it_is) -> Chart:
    table = report.table("funnel")
    stages = [c for c in FUNNEL if c != "Declined"]
    cells = dict(zip(table.columns, table.total.cells if table.total else (), strict=False))
    figure = Figure(figsize=(6, 2.6))
    axes = figure.subplots()
    values = [float(cells[s].value or 0.0) if s in cells else 0.0 for s in stages]
    bars = axes.barh([label(s) for s in stages[::-1]], values[::-1], color=COLOURS[0])
    axes.bar_label(bars, labels=[cells[s].text if s in cells else "" for s in stages][::-1])
    axes.set_xlabel(_("episodes"))
    axes.spines[["top", "right"]].set_visible(False)
    alt = "; ".join(f"{label(s)}: {cells[s].text}" for s in stages if s in cells)
    return Chart("funnel", _("Referred, accepted, engaged, exited"), _svg(figure), alt)


def babies_chart(report: ProgrammeReport, _: Words = _as_it_is, label: Words = _as_it_is) -> Chart:
    table = report.table("babies_by_pathway")
    figure = Figure(figsize=(7, 3.2))
    axes = figure.subplots()
    labels = [" ".join(map(label, r.labels)) for r in table.rows]
    left = [0.0] * len(table.rows)
    parts = []
    for index, place in enumerate(PLACES):
        column = table.columns.index(place)
        widths = [r.cells[column].value or 0.0 for r in table.rows]
        axes.barh(labels, widths, left=left, color=COLOURS[index], label=label(place))
        left = [a + b for a, b in zip(left, widths, strict=True)]
        parts.append(place)
    axes.invert_yaxis()
    axes.set_xlabel(_("babies (hidden figures not drawn)"))
    axes.legend(loc="lower center", bbox_to_anchor=(0.5, 1.0), ncol=2, frameon=False)
    axes.spines[["top", "right"]].set_visible(False)
    ages = ", ".join(label(age) for age, _days in AGES)
    alt = _("Where the programme's babies were at %(ages)s, by pathway: ") % {"ages": ages}
    alt += "; ".join(
        f"{row}: " + ", ".join(f"{label(p)} {r.cells[table.columns.index(p)].text}" for p in PLACES)
        for row, r in zip(labels, table.rows, strict=True)
    )
    return Chart("babies", _("Babies' outcomes by pathway and age"), _svg(figure), alt)


def scores_chart(report: ProgrammeReport, _: Words = _as_it_is, label: Words = _as_it_is) -> Chart:
    table = report.table("scores")
    column = table.columns.index("Mean change")
    figure = Figure(figsize=(6, 2.6))
    axes = figure.subplots()
    labels = [" ".join(map(label, r.labels)) for r in table.rows]
    values = [r.cells[column].value or 0.0 for r in table.rows]
    bars = axes.barh(labels, values, color=COLOURS[1])
    axes.bar_label(bars, labels=[r.cells[column].text for r in table.rows])
    axes.axvline(0, color="#212b32", linewidth=0.8)
    axes.invert_yaxis()
    axes.set_xlabel(_("mean change, entry to exit (SDQ: lower is better)"))
    axes.spines[["top", "right"]].set_visible(False)
    alt = "; ".join(
        f"{row}: {r.cells[column].text}" for row, r in zip(labels, table.rows, strict=True)
    )
    return Chart("scores", _("SDQ and WEMWBS change"), _svg(figure), alt or _("no paired scores"))


def charts(
    report: ProgrammeReport, _: Words = _as_it_is, label: Words = _as_it_is
) -> list[tuple[Chart, PublishedTable]]:
    """Each chart with the table whose numbers it draws, in the language of ``_`` and
    ``label`` (the module's docstring)."""
    return [
        (funnel_chart(report, _, label), report.table("funnel")),
        (babies_chart(report, _, label), report.table("babies_by_pathway")),
        (scores_chart(report, _, label), report.table("scores")),
    ]
