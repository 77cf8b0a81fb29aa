"""``python -m benchmarks [SUITE ...] [--events N] [--json] [--profile OUT]``: print figures
with same-run baselines."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path

from benchmarks import (
    alert_latency,
    codec,
    extract,
    hl7,
    keys,
    pipeline,
    policy,
    publish,
    replay,
    store_batch,
    tabular,
)


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks")
    parser.add_argument("suites", nargs="*", help="suites to run (all if none)")
    parser.add_argument(
        "--events",
        type=int,
        default=None,
        help="log size for the replay suite (default 1,000,000) and the pipeline suite "
        f"(default {pipeline.DEFAULT_EVENTS:,})",
    )
    parser.add_argument(
        "--json", action="store_true", help="pipeline suite only: print one JSON object"
    )
    parser.add_argument(
        "--profile",
        type=Path,
        default=None,
        help="pipeline suite only: run the worker under cProfile, its stats written to OUT",
    )
    args = parser.parse_args()
    suites: dict[str, Callable[[], None]] = {
        "codec": codec.run,
        "keys": keys.run,
        "hl7": hl7.run,
        "publish": publish.run,
        "policy": policy.run,
        "extract": extract.run,
        "tabular": tabular.run,
        "replay": lambda: replay.run(args.events or 1_000_000),
        "alert-latency": alert_latency.run,
        "store-batch": store_batch.run,
        "pipeline": lambda: pipeline.run(
            args.events or pipeline.DEFAULT_EVENTS, as_json=args.json, profile=args.profile
        ),
    }
    chosen = args.suites or list(suites)
    unknown = [name for name in chosen if name not in suites]
    if unknown:
        sys.exit(f"unknown suite(s) {unknown}; choose from {sorted(suites)}")
    if (args.json or args.profile) and chosen != ["pipeline"]:
        sys.exit(
            "--json and --profile are the pipeline suite's: run `python -m benchmarks pipeline`"
        )
    for name in chosen:
        suites[name]()


main()
