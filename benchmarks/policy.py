"""Sharing decisions per second, and what the gate adds to a read.

Two reads, each measured gated and ungated in the same run, in alternating batches (see
:func:`paired`), in reads per CPU-second of this process:

- **the store read**: one person's 5 alerts from SQLite (:meth:`alerts_about`); gated, the same
  plus :meth:`hub.services.release.ReleaseGate.release` — the person's sharing facts as a
  release reads them, the decisions and the disclosure record built;
- **the API read**: what ``GET /people/{key}/alerts`` does short of HTTP — the person's keys from
  the person index, her alerts under each, the response models; gated, the same through
  :func:`hub.services.alert_release.gate_alerts`, the path every channel takes.

Recording the disclosure in Kafka is a durable produce, measured by the ``publish`` suite, and
not included here. Each comparison gives the median of its pairs' ratios with a 95 % interval of
that median and the pairs' quartiles; the plain API read against itself is measured first, as
the measure's own noise in the same run (its median must be 0 within its interval).

The API read is also measured gated the way it was before ADR 0029 — the cached facts, but every
item decided and the disclosure validated anew at each read (:class:`_DecidingAnew`) — as the
same-run baseline of the memo. Last, reads during ingest: an entry that changes no fact applied
to the facts projection before each of 1,000 gated reads, and how many of them queried the facts.
"""

from __future__ import annotations

import statistics
import tempfile
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import reduce
from itertools import cycle, islice
from pathlib import Path
from typing import TypeVar

from sqlalchemy import Engine, event

from benchmarks.harness import rate, report
from hub.alerts.store import MissedAppointmentStore
from hub.disclosures import Channel
from hub.events import CaseEvent
from hub.identity.store import IdentityStore
from hub.services.alert_release import alert_out, gate_alerts
from hub.services.release import ReleaseGate
from hub.sharing.agreement import load_agreement
from hub.sharing.facts import SharingFacts, fold_sharing
from hub.sharing.gate import Item, Plan, Shape, plan, release
from hub.sharing.policy import Recipient, Request, Subject, decide
from hub.sharing.store import SharingStore
from hub.storage.engine import make_engine
from hub.vocabulary import DataCategory, Purpose
from tests.builders import (
    HOME_START,
    NHS_NUMBER,
    T0,
    consented,
    missed,
    override,
    registered,
    withdrawn,
)

T = TypeVar("T")
N = 50_000
BATCH = 10  # reads per timed batch
PAIRS = 1_000  # pairs of batches per comparison
RECIPIENTS = [
    Recipient("R0A", "COMMUNITY_MIDWIFE", "mw-1"),
    Recipient("355", "SOCIAL_WORKER", "sw-1"),
    Recipient(HOME_START, "KEY_WORKER", "hs-1"),
    Recipient("VCS-WOMENSAID-MCR", "KEY_WORKER", "wa-1"),
    Recipient("RX9", "GP", "gp-1"),
]


@dataclass(frozen=True)
class _DecidingAnew(ReleaseGate):
    """The gate as it was before ADR 0029: the cached facts, every item decided at each
    release (no memo). ``ReleaseGate.release`` and the alert gate both decide through
    :meth:`plan`, so overriding it alone decides anew on every path."""

    def plan(
        self,
        reader: Recipient,
        subject: Subject,
        shape: Shape,
        *,
        channel: Channel,
        purpose: Purpose,
        at: datetime,
        also: Iterable[str] = (),
    ) -> Plan:
        return plan(
            self.agreement,
            self.sharing.current_facts(subject, also=also),
            recipient=reader,
            purpose=purpose,
            subject=subject,
            at=at,
            shape=shape,
            channel=channel,
        )


def _facts_queries(engine: Engine, reads: Callable[[], object]) -> int:
    seen = [0]

    def note(_c: object, _cursor: object, statement: str, *_args: object) -> None:
        if "FROM sharing_facts " in statement or statement.endswith("FROM sharing_facts"):
            seen[0] += 1

    event.listen(engine, "before_cursor_execute", note)
    try:
        reads()
    finally:
        event.remove(engine, "before_cursor_execute", note)
    return seen[0]


def _facts_events() -> list[CaseEvent]:
    day = timedelta(days=1)
    return [
        consented("c-1", at=T0),
        consented("c-2", recipients=("VCS-WOMENSAID-MCR",), at=T0 + day),
        withdrawn(at=T0 + 2 * day),
        consented("c-3", at=T0 + 3 * day),
        override("o-1", at=T0 + 4 * day),
    ]


@dataclass(frozen=True)
class Paired:
    """A read and its gated twin timed in alternation: reads per CPU-second of each (median
    batch), and the gated read's cost over the plain one: the median of the pairs' ratios, a
    95 % confidence interval of that median, and the pairs' quartiles."""

    plain_per_s: float
    gated_per_s: float
    overhead: float
    low: float
    high: float
    ci_low: float
    ci_high: float


def median_interval(ordered: Sequence[float], z: float = 1.96) -> tuple[float, float]:
    """A distribution-free confidence interval of the median of ``ordered`` (sorted): the
    order statistics ``n/2 ∓ z·√n/2`` (the binomial's normal approximation). It says how far
    the median itself may be from the one more pairs would find; the quartiles say how much
    single pairs spread, which is mostly the load."""
    n = len(ordered)
    half = z * n**0.5 / 2
    return ordered[max(0, int(n / 2 - half))], ordered[min(n - 1, int(n / 2 + half + 0.5))]


def paired(plain: Callable[[], object], gated: Callable[[], object]) -> Paired:
    """``PAIRS`` pairs of batches of ``BATCH`` reads, plain and gated back to back, the order
    alternating; each pair's ratio of CPU times.

    CPU time of this process, not wall time: on a shared 2-core machine the wall clock counts
    whatever else ran meanwhile (the reads wait on no I/O: the file is in the page cache). Pairs
    of short batches, not best runs of long ones: a burst of other work (caches, the core's
    other thread) then falls on both halves of a pair, and the median ignores the pairs it hit
    unevenly. Long best-of runs on this machine moved by ±10 % between identical variants.
    Many short pairs rather than fewer long ones: the median's own interval narrows with the
    square root of their number (at load 5 to 7, ±3 points with 400 pairs of 20 reads).
    """

    def timed(read: Callable[[], object]) -> float:
        start = time.process_time()
        for _ in range(BATCH):
            read()
        return time.process_time() - start

    plains, gateds, ratios = [], [], []
    for pair in range(PAIRS):
        if pair % 2:
            gated_s, plain_s = timed(gated), timed(plain)
        else:
            plain_s, gated_s = timed(plain), timed(gated)
        if plain_s > 0:
            plains.append(plain_s)
            gateds.append(gated_s)
            ratios.append(gated_s / plain_s - 1)
    ratios.sort()
    low, middle, high = statistics.quantiles(ratios, n=4)
    ci_low, ci_high = median_interval(ratios)
    return Paired(
        BATCH / statistics.median(plains),
        BATCH / statistics.median(gateds),
        middle,
        low,
        high,
        ci_low,
        ci_high,
    )


def _print(name: str, measured: Paired) -> None:
    print(
        f"{name:<46} {measured.gated_per_s:>8,.0f} /s   ungated {measured.plain_per_s:>8,.0f} /s"
        f"   overhead {measured.overhead:6.1%} (95 % CI {measured.ci_low:.1%} to "
        f"{measured.ci_high:.1%}; quartiles {measured.low:.1%} to {measured.high:.1%})",
        flush=True,
    )


def run() -> None:
    agreement = load_agreement()
    events = _facts_events()
    facts = reduce(fold_sharing, events, SharingFacts())
    categories = [DataCategory.APPOINTMENTS, DataCategory.DEMOGRAPHICS, DataCategory.MENTAL_HEALTH]
    requests = [
        Request(r, Purpose.DIRECT_CARE, c, Subject(NHS_NUMBER), "RM3", T0 + timedelta(days=5))
        for r in RECIPIENTS
        for c in categories
    ]
    batch = list(islice(cycle(requests), N))

    def deciding() -> int:
        for request in batch:
            decide(agreement, facts, request)
        return len(batch)

    def baseline_lookup() -> int:  # the cheapest possible "decision": a dict lookup
        table = {(r.recipient.organisation_code, r.category): True for r in requests}
        for request in batch:
            _ = table[(request.recipient.organisation_code, request.category)]
        return len(batch)

    report("policy: decide() per request", rate(deciding), "dict lookup", rate(baseline_lookup))

    with tempfile.TemporaryDirectory() as directory:
        engine = make_engine(f"sqlite:///{Path(directory) / 'bench.sqlite3'}")
        alerts, sharing, identity = (
            MissedAppointmentStore(engine),
            SharingStore(engine),
            IdentityStore(engine),
        )
        for store in (alerts, sharing, identity):
            store.create_schema()
        log = [registered(), *(missed(f"APT-{i}") for i in range(5)), *events]
        for offset, event in enumerate(log):
            alerts.apply("bench", 0, offset, event)
            sharing.apply("bench", 0, offset, event)
            identity.apply("bench", 0, offset, event)
        gate = ReleaseGate(agreement, sharing, identity, lambda: T0 + timedelta(days=5))
        reader = RECIPIENTS[2]
        loaded = sharing.facts_for(Subject(NHS_NUMBER))

        def items_of(key: str) -> list[Item[str]]:
            items: list[Item[str]] = []
            for view in alerts.alerts_about(key):
                alert_id, controller = str(view.alert.alert_id), view.alert.organisation_code
                items.append(Item(DataCategory.APPOINTMENTS, controller, alert_id))
                items.append(Item(DataCategory.DEMOGRAPHICS, controller, "person", len(items) - 1))
            return items

        def store_read() -> object:
            return alerts.alerts_about(NHS_NUMBER)

        def store_read_gated() -> object:
            return gate.release(
                reader,
                Subject(NHS_NUMBER),
                items_of(NHS_NUMBER),
                channel=Channel.API,
                purpose=Purpose.DIRECT_CARE,
                reference="bench",
            )

        def store_read_in_memory() -> object:  # the decisions and redaction alone
            return release(
                agreement,
                loaded,
                recipient=reader,
                purpose=Purpose.DIRECT_CARE,
                subject=Subject(NHS_NUMBER),
                at=T0 + timedelta(days=5),
                items=items_of(NHS_NUMBER),
                channel=Channel.API,
                reference="bench",
            )

        def api_read() -> object:
            keys = identity.same_person(NHS_NUMBER)
            views = [view for key in keys for view in alerts.alerts_about(key)]
            return [alert_out(view, with_person=True) for view in views]

        def api_read_gated() -> object:
            keys = identity.same_person(NHS_NUMBER)
            views = [view for key in keys for view in alerts.alerts_about(key)]
            return gate_alerts(
                gate, reader, views, channel=Channel.API, reference="bench", keys={NHS_NUMBER: keys}
            )

        # What is measured is a read that shows everything: 5 alerts, each with the person.
        views = alerts.alerts_about(NHS_NUMBER)
        shown = gate_alerts(gate, reader, views, channel=Channel.API, reference="bench").shown
        if len(shown) != 5 or any(alert.person is None for alert in shown):
            raise RuntimeError(f"the benchmark's reader should see all 5 alerts: {shown}")

        # The measure's own calibration: the plain read against itself (its median must be 0
        # within its interval; the quartiles show what the load alone spreads a pair by).
        _print("API read against itself (no gate: the noise)", paired(api_read, api_read))
        _print("store read + gate, facts in memory", paired(store_read, store_read_in_memory))
        _print("store read + gate", paired(store_read, store_read_gated))
        _print("API read + gate (the policy's share)", paired(api_read, api_read_gated))
        anew = _DecidingAnew(agreement, sharing, identity, gate.clock)

        def api_read_gated_anew() -> object:
            keys = identity.same_person(NHS_NUMBER)
            views = [view for key in keys for view in alerts.alerts_about(key)]
            return gate_alerts(
                anew, reader, views, channel=Channel.API, reference="bench", keys={NHS_NUMBER: keys}
            )

        _print("API read + gate deciding anew (before)", paired(api_read, api_read_gated_anew))
        offset = len(log)

        def during_ingest() -> None:
            nonlocal offset
            for _ in range(1_000):
                sharing.apply("bench", 0, offset, registered())  # moves the position only
                offset += 1
                api_read_gated()

        print(
            f"{'during ingest: gated reads that queried facts':<46} "
            f"{_facts_queries(engine, during_ingest):>8,} of 1,000 "
            "(before ADR 0029 every apply moved the date: all 1,000 did)",
            flush=True,
        )
