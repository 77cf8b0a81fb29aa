"""Statistical disclosure control, table by table: primary and secondary suppression, rates."""

from __future__ import annotations

import itertools

import pytest

from hub.outcomes.disclosure_control import (
    Hidden,
    ProtectedCounts,
    protect_counts,
    protect_rate,
    protect_statistic,
)
from hub.sharing.agreement import DisclosureControl

RULE = DisclosureControl()  # threshold 5, "c", zeros shown, rates on 10 or more
H, P, S = "c", Hidden.PRIMARY, Hidden.SECONDARY


def _texts(table: ProtectedCounts) -> list[list[str]]:
    rows = [[cell.text for cell in row] for row in table.cells]
    if table.row_totals is not None:
        rows = [[*row, total.text] for row, total in zip(rows, table.row_totals, strict=True)]
    if table.column_totals is not None:
        bottom = [total.text for total in table.column_totals]
        if table.grand_total is not None:
            bottom.append(table.grand_total.text)
        rows.append(bottom)
    return rows


@pytest.mark.parametrize(
    ("counts", "margins", "expected"),
    [
        # nothing small: everything shown, totals added up
        (
            [[10, 20], [30, 40]],
            (True, True),
            [["10", "20", "30"], ["30", "40", "70"], ["40", "60", "100"]],
        ),
        # zeros are shown (the rule's default); a zero is no person
        ([[0, 12]], (False, False), [["0", "12"]]),
        # primary only, no totals published: nothing else need go
        ([[3, 12], [20, 30]], (False, False), [["c", "12"], ["20", "30"]]),
        # the threshold is "below 5": 5 is shown, 4 and 1 are not
        ([[5, 4, 1]], (False, False), [["5", "c", "c"]]),
        # one small cell in a row with its total: the smallest other cell of the row goes too
        (
            [[3, 12, 40], [20, 30, 50]],
            (True, False),
            [["c", "c", "40", "55"], ["20", "30", "50", "100"]],
        ),
        # with column totals too, the columns they are in each have one hidden, so cells of the
        # other row go as well (and then that row has two unknowns: done)
        (
            [[3, 12, 40], [20, 30, 50]],
            (True, True),
            [["c", "c", "40", "55"], ["c", "c", "50", "100"], ["23", "42", "90", "155"]],
        ),
        # a small total is itself suppressed, and then a cell of its line must go with it
        ([[2, 0], [6, 7]], (True, False), [["c", "0", "c"], ["6", "7", "13"]]),
        # a column total of one row: cell and total are the same number, both hidden
        ([[3]], (False, True), [["c"], ["c"]]),
        # two small cells in a line already protect each other: no secondary needed there
        ([[2, 3, 40]], (True, False), [["c", "c", "40", "45"]]),
    ],
)
def test_suppression(
    counts: list[list[int]], margins: tuple[bool, bool], expected: list[list[str]]
) -> None:
    rows, columns = margins
    table = protect_counts(counts, RULE, row_totals=rows, column_totals=columns)
    assert _texts(table) == expected


def _known(table: ProtectedCounts, counts: list[list[int]]) -> None:
    """No hidden cell can be worked out from its line: every published line with a hidden
    member has at least two unknowns."""
    height, width = len(counts), len(counts[0])
    lines = []
    if table.row_totals is not None:
        lines += [[*table.cells[r], table.row_totals[r]] for r in range(height)]
    if table.column_totals is not None:
        lines += [
            [*(table.cells[r][c] for r in range(height)), table.column_totals[c]]
            for c in range(width)
        ]
    if table.row_totals is not None and table.column_totals is not None:
        assert table.grand_total is not None
        lines.append([*table.row_totals, table.grand_total])
        lines.append([*table.column_totals, table.grand_total])
    for line in lines:
        assert sum(cell.value is None for cell in line) != 1


@pytest.mark.parametrize(
    "counts",
    [
        [[a, b, c], [d, 9, 30]]
        for a, b, c, d in itertools.product([0, 1, 4, 5, 20], [0, 2, 11], [3, 40], [0, 1, 7])
    ],
)
def test_no_hidden_cell_is_revealed_by_subtraction(counts: list[list[int]]) -> None:
    table = protect_counts(counts, RULE, row_totals=True, column_totals=True)
    _known(table, counts)
    for row, cells in zip(counts, table.cells, strict=True):
        for count, cell in zip(row, cells, strict=True):
            if 0 < count < RULE.threshold:
                assert cell.hidden is P
            if cell.hidden is None:
                assert cell.value == count  # a shown figure is the true count


def test_a_hidden_figure_carries_no_value_and_says_why() -> None:
    table = protect_counts([[3, 12, 40]], RULE, row_totals=True)
    assert [(c.value, c.hidden) for c in table.cells[0]] == [(None, P), (None, S), (40.0, None)]
    assert table.hidden_count() == 2


def test_the_rule_comes_from_the_agreement() -> None:
    rule = DisclosureControl(threshold=10, symbol="<10", suppress_zeros=True, min_denominator=20)
    table = protect_counts([[0, 9, 10]], rule)
    assert [c.text for c in table.cells[0]] == ["<10", "<10", "10"]


def test_a_rule_that_would_rate_a_suppressed_count_is_refused() -> None:
    with pytest.raises(ValueError, match="min_denominator 3 is below the threshold 5"):
        DisclosureControl(threshold=5, min_denominator=3)


def test_uneven_or_negative_tables_are_refused() -> None:
    with pytest.raises(ValueError, match="same number of cells"):
        protect_counts([[1, 2], [3]], RULE)
    with pytest.raises(ValueError, match="never negative"):
        protect_counts([[-1]], RULE)


@pytest.mark.parametrize(
    ("numerator", "denominator", "count_hidden", "text", "value"),
    [
        (5, 10, False, "50.0", 50.0),
        (1, 3, False, "c", None),  # tiny denominator
        (0, 9, False, "c", None),  # below 10
        (3, 40, True, "c", None),  # the count it is a rate of is hidden
        (0, 0, False, "c", None),
        (7, 21, False, "33.3", 33.3),
    ],
)
def test_rates(
    numerator: int, denominator: int, count_hidden: bool, text: str, value: float | None
) -> None:
    published = protect_rate(numerator, denominator, RULE, count_hidden=count_hidden)
    assert (published.text, published.value) == (text, value)
    assert (published.hidden is Hidden.DENOMINATOR) == (value is None)


@pytest.mark.parametrize(
    ("value", "n", "text"), [(4.25, 12, "4.2"), (4.25, 9, "c"), (None, 50, "c"), (-3.0, 10, "-3.0")]
)
def test_averages_need_enough_people(value: float | None, n: int, text: str) -> None:
    assert protect_statistic(value, n, RULE).text == text


def test_a_table_with_no_rows_publishes_zero_totals() -> None:
    """A programme with no baby yet 14 days old has an empty table: its totals are zeros (the
    report once failed on it, taking the width from a first row there was not)."""
    from hub.outcomes.report import publish_table
    from hub.outcomes.tables import CountTable, Derived

    empty = CountTable(
        key="babies",
        title="Babies",
        row_headers=("Pathway",),
        rows=(),
        columns=("Babies born", "Entered care within 14 days"),
        counts=(),
        column_totals=True,
        derived=(Derived("Rate", guard=1, rates=()),),
    )
    published = publish_table(empty, RULE)
    assert published.rows == ()
    assert published.total is not None
    assert [cell.text for cell in published.total.cells[:2]] == ["0", "0"]
