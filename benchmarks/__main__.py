"""``python -m benchmarks [SUITE ...] [--full] [--events N] [--json] [--profile OUT]``: print
figures with same-run baselines.

Quick sizes by default (``make bench``, under 15 minutes on the 2-core machine): the replay
suite rebuilds 100,000 events and the extract suite reads 100,000 rows. ``--full`` (``make
bench-full``) runs both at 1,000,000, the size issue 19 asks to be measured; the replay alone
then takes about 14 minutes there. ``--events`` and ``HUB_BENCH_ROWS`` set either size outright.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Final

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
    workers,
)

QUICK: Final = 100_000  # replay events and extract rows, `make bench`
FULL: Final = 1_000_000  # the same with --full, `make bench-full`


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks")
    parser.add_argument("suites", nargs="*", help="suites to run (all if none)")
    parser.add_argument(
        "--events",
        type=int,
        default=None,
        help=f"log size for the replay suite (default {QUICK:,}; {FULL:,} with --full), the "
        f"pipeline suite (default {pipeline.DEFAULT_EVENTS:,}) and the workers suite (default "
        f"{workers.DEFAULT_EVENTS:,})",
    )
    parser.add_argument(
        "--full",
        action="store_true",
        help=f"the replay and extract suites at {FULL:,} events and rows (make bench-full; "
        "about 20 minutes more on a 2-core machine) instead of "
        f"{QUICK:,}",
    )
    parser.add_argument(
        "--json", action="store_true", help="pipeline suite only: print one JSON object"
    )
    parser.add_argument(
        "--profile",
        type=Path,
        default=None,
        help="pipeline or hl7 suite alone: run the worker (pipeline) or the 16-sender "
        "group-commit MLLP listener (hl7) under cProfile, its stats written to OUT",
    )
    args = parser.parse_args()
    size = FULL if args.full else QUICK
    rows = int(os.environ.get("HUB_BENCH_ROWS", size))
    suites: dict[str, Callable[[], None]] = {
        "codec": codec.run,
        "keys": keys.run,
        "hl7": lambda: hl7.run(args.profile),
        "publish": publish.run,
        "policy": policy.run,
        "extract": lambda: extract.run(rows),
        "tabular": tabular.run,
        "replay": lambda: replay.run(args.events or size),
        "alert-latency": alert_latency.run,
        "store-batch": store_batch.run,
        "pipeline": lambda: pipeline.run(
            args.events or pipeline.DEFAULT_EVENTS, as_json=args.json, profile=args.profile
        ),
        "workers": lambda: workers.run(args.events or workers.DEFAULT_EVENTS),
    }
    chosen = args.suites or list(suites)
    unknown = [name for name in chosen if name not in suites]
    if unknown:
        sys.exit(f"unknown suite(s) {unknown}; choose from {sorted(suites)}")
    if args.json and chosen != ["pipeline"]:
        sys.exit("--json is the pipeline suite's: run `python -m benchmarks pipeline --json`")
    if args.profile and chosen not in (["pipeline"], ["hl7"]):
        sys.exit(
            "--profile is for one suite, pipeline or hl7: `python -m benchmarks hl7 --profile OUT`"
        )
    for name in chosen:
        suites[name]()


main()
