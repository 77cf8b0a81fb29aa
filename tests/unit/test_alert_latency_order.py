"""The alert-latency benchmark prints each loaded probe in the order taken (docs/benchmarks.md)."""

from __future__ import annotations

from benchmarks.alert_latency import in_order, percentile


def test_probes_print_in_the_order_taken_in_whole_milliseconds() -> None:
    rising = [0.065, 0.1034, 1.0021, 3.5761]
    assert in_order(rising) == "65 103 1002 3576"
    assert in_order(list(reversed(rising))) == "3576 1002 103 65"  # not sorted


def test_a_rising_series_and_a_lone_stall_share_a_p99_but_not_an_order() -> None:
    backlog = [0.1, 0.2, 0.4, 0.8, 1.6, 3.2]
    stall = [0.1, 3.2, 0.2, 0.1, 0.2, 0.1]
    assert percentile(backlog, 0.99) == percentile(stall, 0.99) == 3.2
    assert in_order(backlog) != in_order(stall)
