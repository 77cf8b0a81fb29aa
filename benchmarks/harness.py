"""Timing helpers: best-of-N rates, printed with their baseline ratio; CPU time from ``/proc``."""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import TextIO


def rate(work: Callable[[], int], *, repeats: int = 3) -> float:
    """Best items/second over ``repeats`` runs of ``work`` (which returns items done)."""
    best = 0.0
    for _ in range(repeats):
        start = time.perf_counter()
        items = work()
        best = max(best, items / (time.perf_counter() - start))
    return best


def report(
    name: str, measured: float, baseline_name: str, baseline: float, *, to: TextIO | None = None
) -> None:
    """One figure and its ratio to the baseline, on stdout unless ``to`` says otherwise."""
    print(
        f"{name:<46} {measured:>12,.0f} /s   "
        f"baseline {baseline_name}: {baseline:>12,.0f} /s   ratio {_share(measured / baseline)}",
        file=to or sys.stdout,
        flush=True,
    )


def _share(ratio: float) -> str:
    """A percentage with the digits a small one needs (0.0145 %, not 0.0 %)."""
    return f"{ratio:6.1%}" if ratio >= 0.01 else f"{ratio:.4%}"


def cpu_seconds(pids: list[int]) -> float:
    """User + system CPU of ``pids`` so far (Linux ``/proc``; NaN elsewhere)."""
    total = 0.0
    for pid in pids:
        try:
            stat = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            return float("nan")
        total += (int(stat[11]) + int(stat[12])) / os.sysconf("SC_CLK_TCK")
    return total


def machine_busy_seconds() -> float:
    """CPU seconds every core of the machine spent busy so far (``/proc/stat``; NaN
    elsewhere): what the measured processes did not spend of it, other work spent (a broker, a
    database server, the load generator)."""
    try:
        fields = Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]
    except OSError:
        return float("nan")
    user, nice, system, _idle, _iowait, irq, softirq, steal = (int(f) for f in fields[:8])
    return (user + nice + system + irq + softirq + steal) / os.sysconf("SC_CLK_TCK")
