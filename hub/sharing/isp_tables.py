"""The agreement's WASPI tables, written from the file the hub decides by.

A Welsh Information Sharing Protocol lists its partner organisations and, per flow, what is
shared with whom, why and under which powers (the template's Information Reference Table). The
partners sign the document; the hub decides by ``config/sharing/agreement.toml``. Writing the
document's tables from that file (``hub agreement export``) means the two cannot drift apart
unnoticed: a reviewer compares the export with the signed text instead of the TOML with a
Word file. The column headings follow the hub's fields; the WASPI template's own wording of
each column is the partners' to adjust (docs/wales.md says what was checked against it).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from enum import StrEnum

from hub.sharing.agreement import Agreement, Flow
from hub.sharing.legislation import CITATIONS

PARTNER_COLUMNS = ("Code", "Organisation", "Kind", "Jurisdiction", "Safeguarding contact")
REFERENCE_COLUMNS = (
    "Flow",
    "Document",
    "Version",
    "Review date",
    "Recipients",
    "Roles",
    "Personal information",
    "Purposes",
    "Lawful basis",
    "Legislative powers",
    "Each request reviewed",
)


class TableFormat(StrEnum):
    CSV = "csv"
    MARKDOWN = "markdown"


Table = tuple[tuple[str, ...], list[tuple[str, ...]]]


def documented_flows(agreement: Agreement, reference: str | None = None) -> list[Flow]:
    """The flows a WASPI document covers: those naming ``reference``, or every flow that names
    a WASPI document when ``reference`` is None."""
    return [
        flow
        for flow in agreement.flows
        if flow.waspi is not None and (reference is None or flow.waspi.reference == reference)
    ]


def partner_table(agreement: Agreement, flows: Sequence[Flow]) -> Table:
    """Partner organisations: every organisation those flows can connect, by code."""
    codes = sorted({code for flow in flows for code in agreement.parties(flow)[0]})
    rows: list[tuple[str, ...]] = [
        (
            code,
            agreement.organisations[code].name,
            agreement.organisations[code].kind.value,
            agreement.organisations[code].jurisdiction.value.title(),
            agreement.organisations[code].safeguarding_lead,
        )
        for code in codes
    ]
    return PARTNER_COLUMNS, rows


def reference_table(agreement: Agreement, flows: Sequence[Flow]) -> Table:
    """The Information Reference Table: one row per flow."""
    rows: list[tuple[str, ...]] = []
    for flow in flows:
        assert flow.waspi is not None  # documented_flows() gives only these
        _, recipients = agreement.parties(flow)
        rows.append(
            (
                flow.name,
                f"{flow.waspi.type.value}: {flow.waspi.reference}",
                flow.waspi.version,
                flow.waspi.review_date.isoformat(),
                "; ".join(f"{agreement.organisations[c].name} ({c})" for c in sorted(recipients)),
                ", ".join(flow.roles) or "any role",
                ", ".join(flow.categories),
                ", ".join(flow.purposes),
                flow.basis.value,
                "; ".join(CITATIONS[code].title for code in flow.legislation),
                "yes" if flow.review else "no",
            )
        )
    return REFERENCE_COLUMNS, rows


def render(table: Table, form: TableFormat) -> str:
    """A table as CSV (RFC 4180, CRLF) or as a GitHub-flavoured Markdown table."""
    columns, rows = table
    if form is TableFormat.CSV:
        out = io.StringIO()
        writer = csv.writer(out)
        writer.writerow(columns)
        writer.writerows(rows)
        return out.getvalue()
    lines = [_markdown_row(columns), "|" + "---|" * len(columns)]
    lines.extend(_markdown_row(row) for row in rows)
    return "\n".join(lines) + "\n"


def _markdown_row(cells: Sequence[str]) -> str:
    return "| " + " | ".join(c.replace("|", "\\|").replace("\n", " ") for c in cells) + " |"
