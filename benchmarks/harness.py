"""Timing helpers: best-of-N rates, printed with their baseline ratio."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
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
