"""A clock a test moves by hand: hours of retry schedule pass without sleeping."""

from __future__ import annotations

from datetime import datetime, timedelta

from hub.events import utc_now


class SimulatedClock:
    """Starts at the real time; :meth:`advance` moves it on. Call it for the time."""

    def __init__(self, start: datetime | None = None) -> None:
        self.now = start or utc_now()

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)
