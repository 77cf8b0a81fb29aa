"""``python -m benchmarks pipeline --json`` runs end to end against the real broker.

A smoke test of the benchmark itself, not of the hub's speed: a tiny workload goes through every
stage (bare consume, decode, the no-op consumers, the real worker and its stages under a
confluent-kafka loop, the replay), and the JSON must name every figure with a positive number
and no stage that ran out of time. The worker runs under ``--profile``, whose stats must count
the threads that apply the batches, not the event loop's alone. No rate is asserted: speed is
measured by running the benchmark, never by a test.
"""

from __future__ import annotations

import json
import math
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.kafka

ROOT = Path(__file__).resolve().parents[2]
FIGURES = (
    "bare_consume_per_s",
    "decode_per_s",
    "confluent_noop_per_s",
    "faust_noop_per_s",
    "faust_batch_noop_per_s",
    "pipeline_per_s",
    "kafka_loop_pipeline_per_s",
    "replay_per_s",
    "decode_ratio",
    "confluent_noop_ratio",
    "faust_noop_ratio",
    "faust_batch_noop_ratio",
    "pipeline_ratio",
    "kafka_loop_pipeline_ratio",
    "replay_ratio",
)


def test_every_figure_is_measured(kafka_bootstrap: str, tmp_path: Path) -> None:
    env = {key: value for key, value in os.environ.items() if not key.startswith("HUB_")}
    env["KAFKA_BOOTSTRAP_SERVERS"] = kafka_bootstrap
    env["HUB_BENCH_WORK_DIR"] = str(tmp_path)
    env["HUB_BENCH_PIPELINE_TIMEOUT_S"] = "180"
    completed = subprocess.run(
        [
            *(sys.executable, "-m", "benchmarks", "pipeline", "--events", "40", "--json"),
            *("--profile", str(tmp_path / "worker.prof")),
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=280,
        check=False,
    )
    assert completed.returncode == 0, completed.stderr[-4000:]
    figures = json.loads(completed.stdout)  # stdout is the one object; progress is on stderr
    assert figures["events"] == 40
    assert figures["unfinished"] == {}, figures["unfinished"]
    for name in FIGURES:
        value = figures[name]
        assert isinstance(value, float), (name, value)
        assert 0 < value < math.inf, (name, value)
    summary = (tmp_path / "worker.txt").read_text()
    threads = re.match(r"the event loop's thread and (\d+) executor threads", summary)
    assert threads is not None, summary[:300]
    assert int(threads[1]) >= 1, summary[:300]  # the threads the batches are applied on
    assert "apply_parts" in summary  # the stores' work, which runs on them
