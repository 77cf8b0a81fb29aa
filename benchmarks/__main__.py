"""``python -m benchmarks [SUITE ...] [--events N]``: print figures with same-run baselines."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable

from benchmarks import (
    alert_latency,
    codec,
    extract,
    hl7,
    keys,
    policy,
    publish,
    replay,
    store_batch,
)


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks")
    parser.add_argument("suites", nargs="*", help="suites to run (all if none)")
    parser.add_argument(
        "--events",
        type=int,
        default=1_000_000,
        help="log size for the replay suite (default 1,000,000)",
    )
    args = parser.parse_args()
    suites: dict[str, Callable[[], None]] = {
        "codec": codec.run,
        "keys": keys.run,
        "hl7": hl7.run,
        "publish": publish.run,
        "policy": policy.run,
        "extract": extract.run,
        "replay": lambda: replay.run(args.events),
        "alert-latency": alert_latency.run,
        "store-batch": store_batch.run,
    }
    chosen = args.suites or list(suites)
    unknown = [name for name in chosen if name not in suites]
    if unknown:
        sys.exit(f"unknown suite(s) {unknown}; choose from {sorted(suites)}")
    for name in chosen:
        suites[name]()


main()
