"""``hub worker`` under cProfile, every thread: where the live pipeline's time goes.

``python -m benchmarks.profiled_worker OUT`` runs :func:`hub.processes.worker.run_worker` with
the settings of the environment, as ``hub worker`` does, with a profiler on the event loop's
thread and one on each thread of the loop's default executor (the worker runs every decode and
apply in ``asyncio.to_thread``, and cProfile only sees the thread that enabled it). When the
worker stops (SIGTERM) the profiles are merged and written to ``OUT`` (pstats), the event loop's
own to ``OUT.loop``, and a summary to ``OUT.txt``.

Each profiler counts its thread's CPU time (``time.thread_time``), not the wall clock: waits for
the GIL, a lock, the disk or the broker are left out, so the shares are of the work done.
Profiling slows the worker down (every Python call is counted): read the shares, not the rate.
"""

from __future__ import annotations

import cProfile
import pstats
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from hub.processes.worker import run_worker
from hub.settings import Settings

TOP = 40


class ProfilingExecutor(ThreadPoolExecutor):
    """The loop's default executor, each of whose threads profiles itself from its start."""

    def __init__(self) -> None:
        self.profiles: list[cProfile.Profile] = []
        self._lock = threading.Lock()
        super().__init__(thread_name_prefix="profiled", initializer=self._profile_thread)

    def _profile_thread(self) -> None:
        profile = cProfile.Profile(time.thread_time)
        with self._lock:
            self.profiles.append(profile)
        profile.enable()  # stays on for this thread after the initializer returns


def main(out: Path) -> None:
    executor = ProfilingExecutor()
    on_loop = cProfile.Profile(time.thread_time)
    on_loop.enable()
    try:
        run_worker(Settings(), executor=executor)
    except SystemExit:
        pass
    finally:
        on_loop.disable()
        write(out, on_loop, executor.profiles)


def write(out: Path, on_loop: cProfile.Profile, threads: list[cProfile.Profile]) -> None:
    """``OUT`` (every thread), ``OUT.loop`` (the event loop's alone) and ``OUT.txt``: the hub's
    functions by cumulative time and everything by own time, every thread summed (idle waits
    included: read the hub's rows against the run's wall time)."""
    on_loop.dump_stats(str(out.with_suffix(".loop")))
    with out.with_suffix(".txt").open("w") as text:
        merged = pstats.Stats(on_loop, stream=text)
        for profile in threads:
            merged.add(profile)  # disables it (it is idle: the worker has stopped)
        merged.dump_stats(str(out))
        print(f"the event loop's thread and {len(threads)} executor threads", file=text)
        merged.sort_stats("cumulative").print_stats("/hub/", TOP)
        merged.sort_stats("tottime").print_stats(TOP)


if __name__ == "__main__":
    main(Path(sys.argv[1]))
