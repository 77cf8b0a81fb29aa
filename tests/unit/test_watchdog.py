"""The worker watchdog's decision and the `hub run` restart backoff (hub/projections/watchdog.py,
hub/processes/supervisor.py), with a controlled clock; the real hang is in tests/faults/."""

from __future__ import annotations

from hub.processes.supervisor import restart_delay
from hub.projections.watchdog import Entry, Watchdog, overdue


def test_overdue_lists_only_entries_past_the_limit_oldest_first() -> None:
    started = {("t", 0, 5): 10.0, ("t", 1, 7): 2.0, ("t", 0, 6): 95.0}
    assert overdue(started, now=100.0, limit_s=30) == [("t", 1, 7), ("t", 0, 5)]
    assert overdue(started, now=100.0, limit_s=100) == []


def test_the_watchdog_calls_on_stall_with_the_stuck_entry_only_while_it_is_in_progress() -> None:
    now = [0.0]
    calls: list[list[Entry]] = []
    dog = Watchdog(30, on_stall=calls.append, clock=lambda: now[0])
    with dog.watch("hub.family-events.v1", 1, 42):
        now[0] = 30.0
        assert dog.check() == []
        now[0] = 31.0
        assert dog.check() == [("hub.family-events.v1", 1, 42)]
    assert calls == [[("hub.family-events.v1", 1, 42)]]
    now[0] = 1000.0
    assert dog.check() == []  # finished: no longer watched


def test_restart_delay_doubles_while_failing_and_resets_after_a_steady_minute() -> None:
    delays = [restart_delay(None, 0.0)]
    for _ in range(8):
        delays.append(restart_delay(delays[-1], 2.0))
    assert delays == [1, 2, 4, 8, 16, 32, 60, 60, 60]
    assert restart_delay(60, 61.0) == 1
