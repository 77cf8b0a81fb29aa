"""Where a partition resumes (ADR 0004): the store's positions win whenever they are behind."""

from __future__ import annotations

import pytest

from hub.projections.resume import resume_offset, rewinds


@pytest.mark.parametrize(
    ("positions", "committed", "log_start", "expected"),
    [
        # The store is in step with the group, or ahead of it: keep the group's offset (never
        # skip forward; the person index relies on redelivery of what was not committed).
        ([120, 120], 120, 0, None),
        ([150, 130], 120, 0, None),
        # One projection is behind (restored from an older backup): rewind to it.
        ([120, 80], 120, 0, 80),
        # A projection with no position at all (its tables deleted): from the log start.
        ([120, None], 120, 0, 0),
        ([120, None], 120, 40, 40),
        # A position older than the retained log cannot be met: the log start is all there is.
        ([10], 120, 40, 40),
        # Nothing committed: the consumer starts at the log start anyway.
        ([None], None, 0, None),
        ([80], None, 0, None),
        # No projection keeps a position in this topic: nothing to decide.
        ([], 120, 0, None),
    ],
)
def test_resume_offset(
    positions: list[int | None], committed: int | None, log_start: int, expected: int | None
) -> None:
    assert resume_offset(positions, committed, log_start) == expected


def test_rewinds_names_only_the_partitions_that_move() -> None:
    positions: dict[int, list[int | None]] = {0: [10, 10], 1: [None, 7], 2: [5, 9]}
    committed: dict[int, int | None] = {0: 10, 1: 7, 2: None}
    assert rewinds(positions, committed, {0: 0, 1: 3, 2: 0}) == {1: 3}
