"""The worker's watchdog: end the process when handling one entry, or batch, hangs (ADR 0018).

Faust keeps a worker whose agent hangs in its consumer group, so Kafka never reassigns the
partition and nothing restarts anything. The watchdog notes when each entry's handling starts
and, from a thread of its own (the event loop may be the thing that hangs), ends the process
with :data:`EXIT_STALLED` once one has been in progress longer than
``HUB_WORKER_STALL_SECONDS``, naming the topic/partition/offset. It exits without a graceful
shutdown, which could wait on the same stuck work: the entry's offset is not committed and its
transaction never committed, so the restarted worker gets it again and the stored positions
de-duplicate (ADR 0004).
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager

log = logging.getLogger(__name__)

EXIT_STALLED = 70  # EX_SOFTWARE: for the supervisor, a failure to restart from

Entry = tuple[str, int, int]  # topic, partition, offset


def overdue(in_progress: Mapping[Entry, float], now: float, limit_s: float) -> list[Entry]:
    """The entries whose handling started more than ``limit_s`` before ``now``, oldest first."""
    late = [(started, entry) for entry, started in in_progress.items() if now - started > limit_s]
    return [entry for _, entry in sorted(late)]


def _exit_stalled(stuck: list[Entry]) -> None:
    logging.shutdown()  # flush the log line that says why
    os._exit(EXIT_STALLED)


class Watchdog:
    """Tracks the entries being handled; :meth:`start` runs the checking thread."""

    def __init__(
        self,
        limit_s: float,
        on_stall: Callable[[list[Entry]], None] = _exit_stalled,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._limit_s = limit_s
        self._on_stall = on_stall
        self._clock = clock
        self._in_progress: dict[Entry, float] = {}
        self._lock = threading.Lock()
        self._started = False

    @contextmanager
    def watch(self, topic: str, partition: int, offset: int) -> Iterator[None]:
        entry = (topic, partition, offset)
        with self._lock:
            self._in_progress[entry] = self._clock()
        try:
            yield
        finally:
            with self._lock:
                self._in_progress.pop(entry, None)

    def check(self) -> list[Entry]:
        """One look: the overdue entries, each logged, and ``on_stall`` called if any."""
        with self._lock:
            stuck = overdue(self._in_progress, self._clock(), self._limit_s)
        for topic, partition, offset in stuck:
            log.critical(
                "watchdog: handling %s[%d]@%d has taken over %.0f s (HUB_WORKER_STALL_SECONDS); "
                "exiting for the supervisor to restart the worker",
                topic,
                partition,
                offset,
                self._limit_s,
            )
        if stuck:
            self._on_stall(stuck)
        return stuck

    def start(self) -> None:
        """Check in a daemon thread, a few times per limit, until the process ends."""
        if self._started:
            return
        self._started = True
        interval = min(5.0, self._limit_s / 4)

        def loop() -> None:
            while True:
                time.sleep(interval)
                self.check()

        threading.Thread(target=loop, name="hub-watchdog", daemon=True).start()
