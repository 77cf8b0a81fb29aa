"""Sharing decisions per second, and the gate's overhead on a projection read.

The read is what ``GET /people/{key}/alerts`` does against SQLite: load a person's alerts.
The same read "with the gate" also loads the person's sharing facts and releases each alert
through :func:`hub.sharing.gate.release`. Recording the disclosure in Kafka is a durable
produce, measured by the ``publish`` suite, and not included here.
"""

from __future__ import annotations

import tempfile
from datetime import timedelta
from functools import reduce
from itertools import cycle, islice
from pathlib import Path

from benchmarks.harness import rate, report
from hub.alerts.store import AlertView, MissedAppointmentStore
from hub.disclosures import Channel
from hub.events import CaseEvent, DataCategory, Purpose
from hub.sharing.agreement import load_agreement
from hub.sharing.facts import SharingFacts, fold_sharing
from hub.sharing.gate import Item, release
from hub.sharing.policy import Recipient, Request, Subject, decide
from hub.sharing.store import SharingStore
from hub.storage.engine import make_engine
from tests.builders import HOME_START, NHS_NUMBER, T0, consented, missed, override, withdrawn

N = 50_000
READS = 3_000
RECIPIENTS = [
    Recipient("R0A", "COMMUNITY_MIDWIFE", "mw-1"),
    Recipient("355", "SOCIAL_WORKER", "sw-1"),
    Recipient(HOME_START, "KEY_WORKER", "hs-1"),
    Recipient("VCS-WOMENSAID-MCR", "KEY_WORKER", "wa-1"),
    Recipient("RX9", "GP", "gp-1"),
]


def _facts_events() -> list[CaseEvent]:
    day = timedelta(days=1)
    return [
        consented("c-1", at=T0),
        consented("c-2", recipients=("VCS-WOMENSAID-MCR",), at=T0 + day),
        withdrawn(at=T0 + 2 * day),
        consented("c-3", at=T0 + 3 * day),
        override("o-1", at=T0 + 4 * day),
    ]


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
        store, sharing = MissedAppointmentStore(engine), SharingStore(engine)
        store.create_schema()
        sharing.create_schema()
        for offset, event in enumerate([missed(f"APT-{i}") for i in range(5)] + events):
            store.apply("bench", 0, offset, event)
            sharing.apply("bench", 0, offset, event)
        reader = RECIPIENTS[2]

        def plain_read() -> int:
            for _ in range(READS):
                store.alerts_about(NHS_NUMBER)
            return READS

        def gate(views: list[AlertView], person_facts: SharingFacts) -> None:
            items: list[Item[str]] = []
            for view in views:
                items.append(Item(DataCategory.APPOINTMENTS, "R0A", str(view.alert.alert_id)))
                items.append(Item(DataCategory.DEMOGRAPHICS, "R0A", "person", len(items) - 1))
            release(
                agreement,
                person_facts,
                recipient=reader,
                purpose=Purpose.DIRECT_CARE,
                subject=Subject(NHS_NUMBER),
                at=T0 + timedelta(days=5),
                items=items,
                channel=Channel.API,
                reference="bench",
            )

        def gated_read() -> int:
            for _ in range(READS):
                gate(store.alerts_about(NHS_NUMBER), sharing.facts_for(Subject(NHS_NUMBER)))
            return READS

        loaded = sharing.facts_for(Subject(NHS_NUMBER))

        def gate_only_read() -> int:  # facts already in memory: the decision and redaction
            for _ in range(READS):
                gate(store.alerts_about(NHS_NUMBER), loaded)
            return READS

        plain, gated, gate_only = rate(plain_read), rate(gated_read), rate(gate_only_read)
        report("read: 5 alerts + gate (facts in memory)", gate_only, "the read, ungated", plain)
        print(f"{'  decide+release overhead on the read':<46} {plain / gate_only - 1:>12.1%}")
        report("read: 5 alerts + facts load + gate", gated, "the read, ungated", plain)
        print(f"{'  facts load+decide+release overhead':<46} {plain / gated - 1:>12.1%}")
