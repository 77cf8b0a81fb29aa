"""The stall decision behind /health (hub/projections/stalls.py): pure, so each case is short."""

from __future__ import annotations

from hub.projections.stalls import Lag, StallWatch, observe, stalls


def lag(next_offset: int, end_offset: int, partition: int = 0) -> Lag:
    return Lag("missed_appointment_alerts", "family", partition, end_offset, next_offset)


def test_behind_at_an_unmoved_position_for_the_limit_is_stalled() -> None:
    watch = StallWatch(stall_seconds=60)
    assert watch.check([lag(5, 9)], now=0) == []
    assert watch.check([lag(5, 9)], now=59) == []
    [stall] = watch.check([lag(5, 9)], now=60)
    assert stall.seconds == 60
    assert stall.reason() == (
        "projection missed_appointment_alerts stalled: family[0] at offset 5, 4 entries behind, "
        "no progress for 60 s"
    )


def test_a_moving_position_restarts_the_clock() -> None:
    watch = StallWatch(stall_seconds=60)
    watch.check([lag(5, 9)], now=0)
    assert watch.check([lag(6, 12)], now=50) == []
    assert watch.check([lag(6, 12)], now=100) == []
    assert [s.lag.next_offset for s in watch.check([lag(6, 12)], now=110)] == [6]


def test_an_idle_projection_that_receives_an_entry_is_not_stalled_at_once() -> None:
    seen = observe({}, [lag(5, 5)], now=0)  # caught up, position 5 since t=0
    seen = observe(seen, [lag(5, 6)], now=500)  # an entry arrives much later
    assert stalls(seen, [lag(5, 6)], now=500, stall_seconds=60) == []
    assert len(stalls(seen, [lag(5, 6)], now=560, stall_seconds=60)) == 1


def test_caught_up_is_never_stalled_and_partitions_are_judged_apart() -> None:
    watch = StallWatch(stall_seconds=10)
    watch.check([lag(3, 3, 0), lag(1, 4, 1)], now=0)
    found = watch.check([lag(3, 3, 0), lag(1, 4, 1)], now=1000)
    assert [(s.lag.partition, s.lag.behind) for s in found] == [(1, 3)]


def test_a_position_ahead_of_the_end_offset_counts_as_caught_up() -> None:
    assert lag(10, 8).behind == 0
