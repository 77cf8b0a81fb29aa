"""``python -m benchmarks [SUITE ...]``: print figures with same-run baselines."""

from __future__ import annotations

import sys

from benchmarks import alert_latency, codec, extract, hl7, policy, publish

SUITES = {
    "codec": codec.run,
    "hl7": hl7.run,
    "publish": publish.run,
    "policy": policy.run,
    "extract": extract.run,
    "alert-latency": alert_latency.run,
}


def main() -> None:
    chosen = sys.argv[1:] or list(SUITES)
    unknown = [name for name in chosen if name not in SUITES]
    if unknown:
        sys.exit(f"unknown suite(s) {unknown}; choose from {sorted(SUITES)}")
    for name in chosen:
        SUITES[name]()


main()
