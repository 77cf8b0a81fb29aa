"""Writes the Welsh census forms the tabular connector's golden tests read (``.xlsx``).

The workbooks in ``tests/golden/connectors/tabular/`` are small, committed, and made by this
helper from the rows below, so what they hold is readable here rather than only in a binary
file; ``tests/unit/test_tabular_connector.py`` checks the committed files still hold these rows
(``HUB_UPDATE_GOLDEN=1`` writes them again). Rows are synthetic: no real child is in them.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import Final, TypeGuard

from openpyxl import Workbook

CellValue = str | datetime | int | None

LAC_HEADER: Final = (
    "Child ID",
    "UPN",
    "Sex",
    "Date of birth",
    "Episode start date",
    "Reason for new episode",
    "Legal status",
    "Category of need",
    "Placement type",
    "Episode end date",
    "Reason episode ceased",
)


def day(text: str) -> datetime:
    """An Excel date cell (openpyxl writes a datetime at midnight as a date)."""
    return datetime.strptime(text, "%Y-%m-%d")


# Newport's episodes for 2025-26: two newborns (an emergency protection order, then an interim
# care order — one period of care in two episodes), a child accommodated under s.76 who went
# home, a change of legal status, and a short period ended by a child arrangements order.
LAC_EPISODES: Final[list[tuple[CellValue, ...]]] = [
    (
        "NPT-C1001",
        None,
        2,
        day("2025-05-03"),
        day("2025-05-04"),
        "S",
        "L2",
        "N1",
        "Q1",
        day("2025-05-12"),
        "X1",
    ),
    ("NPT-C1001", None, 2, day("2025-05-03"), day("2025-05-12"), "L", "C1", "N1", "Q1", None, None),
    (
        "NPT-C1002",
        "A680123400017",
        1,
        day("2013-02-11"),
        day("2024-09-02"),
        "S",
        "V2",
        "N4",
        "Q2",
        day("2025-01-20"),
        "E4A",
    ),
    (
        "NPT-C1003",
        None,
        1,
        day("2024-12-30"),
        day("2025-06-10"),
        "S",
        "C1",
        "N1",
        "Q1",
        day("2025-11-03"),
        "X1",
    ),
    ("NPT-C1003", None, 1, day("2024-12-30"), day("2025-11-03"), "L", "C2", "N1", "Q1", None, None),
    (
        "NPT-C1004",
        None,
        2,
        day("2025-08-01"),
        day("2025-08-14"),
        "S",
        "V2",
        "N1",
        "Q1",
        day("2025-10-01"),
        "E41",
    ),
]

# Rows the mapping refuses, each for one reason the README lists, and one it takes.
LAC_BAD_ROWS: Final[list[tuple[CellValue, ...]]] = [
    (
        "NPT-C2001",
        None,
        2,
        day("2025-04-01"),
        day("2025-04-02"),
        "S",
        "C9",
        "N1",
        "Q1",
        None,
        None,
    ),  # a legal status the census does not have
    (
        "NPT-C2002",
        None,
        1,
        day("2025-04-01"),
        "31/02/2025",
        "S",
        "C1",
        "N1",
        "Q1",
        None,
        None,
    ),  # a date typed as text that is no date
    (
        "NPT-C2003",
        None,
        2,
        day("2025-04-01"),
        day("2025-04-03"),
        "S",
        "C1",
        "N1",
        "Q1",
        day("2025-06-30"),
        None,
    ),  # ended without a reason
    (
        None,
        None,
        2,
        day("2025-04-01"),
        day("2025-04-04"),
        "S",
        "C1",
        "N1",
        "Q1",
        None,
        None,
    ),  # no child id
    (
        "NPT-C2005",
        None,
        1,
        day("2025-04-01"),
        day("2025-04-05"),
        "S",
        "V2",
        "N2",
        "Q2",
        None,
        None,
    ),  # fine
]


def write_lac_episodes(path: Path, rows: Sequence[tuple[CellValue, ...]]) -> None:
    """The census's episodes form: three title rows, the column names on row 4, then rows."""
    workbook = Workbook()
    sheet = workbook.active
    assert sheet is not None
    sheet.title = "Episodes"
    sheet.append(["Looked after children census 2025-26: episodes"])
    sheet.append(["Local authority: Newport City Council (W06000022)"])
    sheet.append([])
    sheet.append(list(LAC_HEADER))
    for row in rows:
        sheet.append(list(row))
    for cells in sheet.iter_rows(min_row=5):
        for cell in cells:
            if isinstance(cell.value, datetime):
                cell.number_format = "DD/MM/YYYY"
    notes = workbook.create_sheet("Notes")
    notes.append(["Synthetic rows for the hub's tests: no real child is in them."])
    workbook.save(path)


def _is_cell_value(cell: object) -> TypeGuard[CellValue]:
    return cell is None or isinstance(cell, str | datetime | int)


def read_rows(path: Path) -> list[tuple[CellValue, ...]]:
    """The data rows of an episodes form as written (for the check that it is up to date)."""
    from openpyxl import load_workbook

    workbook = load_workbook(path, read_only=True)
    try:
        sheet = workbook["Episodes"]
        rows = sheet.iter_rows(min_row=5, values_only=True)
        return [tuple(cell for cell in row if _is_cell_value(cell)) for row in rows]
    finally:
        workbook.close()
