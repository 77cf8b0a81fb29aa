"""Is a projection stalled? The pure decision behind ``/health`` and ``hub_projection_stalled``.

A Faust worker whose agent has died or hangs stays a member of its consumer group, so the group
looks "stable" and Kafka alone cannot tell (Faust's silent stream death). What can tell is the
projection's own stored position (``projection_positions``, ADR 0004): a partition that has
entries waiting (lag > 0) while its position has not moved for ``HUB_STALL_SECONDS`` is stalled.

The clock of a partition starts when it is first seen *behind* at a position: a projection that
was idle (lag 0) and then receives an entry is not stalled the moment the entry arrives. The
observations are samples — taken when ``/health`` or ``/metrics`` is called — so a stall is
reported at the first sample at least ``HUB_STALL_SECONDS`` after the position stopped moving.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

Key = tuple[str, str, int]  # projection, topic, partition


@dataclass(frozen=True)
class Lag:
    """One projection's position in one partition against the partition's end offset."""

    projection: str
    topic: str
    partition: int
    end_offset: int  # the offset the next record written to the partition will get
    next_offset: int  # the projection's stored position (the log start if it has none yet)

    @property
    def key(self) -> Key:
        return (self.projection, self.topic, self.partition)

    @property
    def behind(self) -> int:
        return max(0, self.end_offset - self.next_offset)


@dataclass(frozen=True)
class Seen:
    """Where a partition's position was, and since when it has been behind there."""

    next_offset: int
    behind_since: float | None  # None: caught up at the last observation


@dataclass(frozen=True)
class Stall:
    lag: Lag
    seconds: float  # how long the position has been behind without moving

    def reason(self) -> str:
        lag = self.lag
        return (
            f"projection {lag.projection} stalled: {lag.topic}[{lag.partition}] "
            f"at offset {lag.next_offset}, {lag.behind} entries behind, "
            f"no progress for {self.seconds:.0f} s"
        )


def observe(previous: Mapping[Key, Seen], lags: Sequence[Lag], now: float) -> dict[Key, Seen]:
    """The observations after seeing ``lags`` at ``now`` (seconds on a monotonic clock)."""
    seen: dict[Key, Seen] = {}
    for lag in lags:
        before = previous.get(lag.key)
        if lag.behind == 0:
            seen[lag.key] = Seen(lag.next_offset, None)
        elif before is None or before.next_offset != lag.next_offset or before.behind_since is None:
            seen[lag.key] = Seen(lag.next_offset, now)
        else:
            seen[lag.key] = before
    return seen


def stalls(
    seen: Mapping[Key, Seen], lags: Sequence[Lag], now: float, stall_seconds: float
) -> list[Stall]:
    """The partitions behind at an unmoved position for at least ``stall_seconds``."""
    found = []
    for lag in lags:
        since = seen[lag.key].behind_since if lag.key in seen else None
        if lag.behind > 0 and since is not None and now - since >= stall_seconds:
            found.append(Stall(lag, now - since))
    return found


class StallWatch:
    """The observations one API process has made (``/health`` and ``/metrics`` share them)."""

    def __init__(self, stall_seconds: float) -> None:
        self._stall_seconds = stall_seconds
        self._seen: dict[Key, Seen] = {}
        self._lock = threading.Lock()  # FastAPI runs sync routes on a thread pool

    def check(self, lags: Sequence[Lag], now: float) -> list[Stall]:
        with self._lock:
            self._seen = observe(self._seen, lags, now)
            return stalls(self._seen, lags, now, self._stall_seconds)
