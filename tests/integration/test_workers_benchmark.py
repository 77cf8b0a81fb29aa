"""``python -m benchmarks workers`` runs end to end: one worker process, then two, on PostgreSQL.

A smoke test of the benchmark, not of the hub's speed: a tiny workload through one ``hub
worker`` and then through two started together, each on a database of its own. Every run must
finish, and the figures name both counts. No rate is asserted.
"""

from __future__ import annotations

import re

import pytest

from benchmarks import workers

pytestmark = [pytest.mark.kafka, pytest.mark.postgres]


def test_one_and_two_worker_processes_are_measured(
    kafka_bootstrap: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("KAFKA_BOOTSTRAP_SERVERS", kafka_bootstrap)
    monkeypatch.setenv("HUB_BENCH_PIPELINE_TIMEOUT_S", "180")
    workers.run(40, order=(1, 2))
    out, progress = capsys.readouterr()
    assert "did not finish" not in out + progress, progress[-3000:]
    assert "the worker spent" in progress  # one process ...
    assert "the 2 workers spent" in progress  # ... and two, their CPU summed
    one = re.search(r"workers: 1 worker process, PostgreSQL \(best of 1\)\s+([\d,]+) /s", out)
    two = re.search(r"workers: 2 worker processes, PostgreSQL\s+([\d,]+) /s.*1 process", out)
    assert one is not None, out
    assert two is not None, out
    assert int(one[1].replace(",", "")) > 0
    assert int(two[1].replace(",", "")) > 0
