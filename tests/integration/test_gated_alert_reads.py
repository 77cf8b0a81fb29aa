"""A gated read of alerts answers as a fresh decision on the store's facts would, at every read.

:func:`hub.services.alert_release.gate_alerts` asks the gate for the shape of a person's alerts
and reads what it sends off the memoised plan (ADR 0043); the memo lives with the cached facts,
dated by the counter every change of them moves (ADR 0029). Here a reader (its own store and
gate: another API process) reads after every change made by the API's fold of what it has just
published or by the worker's apply: what it shows, and the disclosure it makes, must equal
:func:`hub.sharing.gate.release` deciding anew, item by item, on the facts read afresh from the
store — so a consent withdrawn or an override started or ended binds the very next read.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import Engine

from hub.alerts.store import MissedAppointmentStore
from hub.disclosures import Channel, Disclosure
from hub.events import CaseEvent
from hub.identity.store import IdentityStore
from hub.services.alert_release import GatedAlerts, gate_alerts
from hub.services.release import ReleaseGate
from hub.sharing.agreement import load_agreement
from hub.sharing.gate import Item, release
from hub.sharing.policy import Recipient, Subject
from hub.sharing.store import SharingStore, written_table
from hub.vocabulary import DataCategory, Purpose
from tests.builders import (
    HOME_START,
    NHS_NUMBER,
    T0,
    consented,
    missed,
    override,
    override_ended,
    registered,
    withdrawn,
)

TOPIC = "family-events"
DAY = timedelta(days=1)
READER = Recipient(HOME_START, "KEY_WORKER", "hs-1")
AGREEMENT = load_agreement()


@dataclass
class Hub:
    api: SharingStore  # folds what the API has just published (record_now)
    worker: SharingStore  # applies the log
    reader: ReleaseGate  # another process's gate, its own cache and memo
    alerts: MissedAppointmentStore
    now: list[datetime]
    offset: int = 0

    def apply(self, entry: CaseEvent) -> None:
        self.worker.apply(TOPIC, 0, self.offset, entry)
        self.offset += 1

    def read(self) -> GatedAlerts:
        views = self.alerts.alerts_about(NHS_NUMBER)
        return gate_alerts(self.reader, READER, views, channel=Channel.API, reference="GET /a")

    def fresh(self) -> tuple[list[tuple[str, bool]], Disclosure | None]:
        """What deciding anew on the store's facts shows of the alerts (id, with the person)."""
        views = self.alerts.alerts_about(NHS_NUMBER)
        items: list[Item[tuple[str, bool]]] = []
        for view in views:
            alert_id, controller = str(view.alert.alert_id), view.alert.organisation_code
            items.append(Item(DataCategory.APPOINTMENTS, controller, (alert_id, False)))
            items.append(
                Item(DataCategory.DEMOGRAPHICS, controller, (alert_id, True), len(items) - 1)
            )
        decided = release(
            AGREEMENT,
            self.worker.facts_for(Subject(NHS_NUMBER)),
            recipient=READER,
            purpose=Purpose.DIRECT_CARE,
            subject=Subject(NHS_NUMBER),
            at=self.now[0],
            items=items,
            channel=Channel.API,
            reference="fresh",
        )
        sent = set(decided.released)
        shown = [(a, (a, True) in sent) for a, person in decided.released if not person]
        return shown, decided.disclosure


@pytest.fixture
def hub(sql_engine: Engine) -> Iterator[Hub]:
    api, worker, reading = (
        SharingStore(sql_engine),
        SharingStore(sql_engine),
        SharingStore(sql_engine),
    )
    api.create_schema()
    alerts = MissedAppointmentStore(sql_engine)
    for offset, entry in enumerate([registered(), *(missed(f"APT-{i}") for i in range(3))]):
        alerts.apply(TOPIC, 0, offset, entry)
    now = [T0 + DAY]
    gate = ReleaseGate(AGREEMENT, reading, IdentityStore(sql_engine), lambda: now[0])
    yield Hub(api, worker, gate, alerts, now)
    written_table.drop(sql_engine, checkfirst=True)  # not a derived table: the fixture keeps it


def _agrees(hub: Hub) -> GatedAlerts:
    gated = hub.read()
    shown, disclosure = hub.fresh()
    assert [(a.alert_id, a.person is not None) for a in gated.shown] == shown
    if disclosure is None:
        assert gated.disclosures == []
    else:
        (made,) = gated.disclosures
        same = {"disclosure_id", "reference"}
        assert made.model_dump(exclude=same) == disclosure.model_dump(exclude=same)
        assert made.reference.startswith("GET /a alerts ")
    return gated


def test_a_withdrawal_an_override_and_its_end_each_bind_the_next_read(hub: Hub) -> None:
    assert _agrees(hub).shown == []  # no consent: the charity sees nothing
    hub.apply(consented("c-1"))
    shown = _agrees(hub).shown
    assert len(shown) == 3
    assert all(a.person is not None for a in shown)
    _agrees(hub)  # the same read again: from the memo, the same answer
    hub.api.record_now(withdrawn(at=T0 + DAY / 2))  # folded by the API; the worker not yet
    assert _agrees(hub).shown == []
    hub.apply(override("o-1", at=T0 + DAY / 2))  # appointments only, for 7 days
    shown = _agrees(hub).shown
    assert len(shown) == 3
    assert all(a.person is None for a in shown)
    hub.now[0] = T0 + 8 * DAY  # the override has expired: a new window, decided again
    assert _agrees(hub).shown == []
    hub.now[0] = T0 + DAY
    assert len(_agrees(hub).shown) == 3
    hub.api.record_now(override_ended("o-1", at=T0 + DAY / 2))
    assert _agrees(hub).shown == []


CHANGES: list[CaseEvent] = [
    consented("c-1"),
    consented("c-2", categories=(DataCategory.APPOINTMENTS,), at=T0 + DAY),
    withdrawn(at=T0 + DAY / 2),
    withdrawn(consent_id="c-2", record_id="withdrawal-2", at=T0 + 2 * DAY),
    override("o-1", at=T0 + DAY / 2),
    override_ended("o-1", at=T0 + 3 * DAY),
]
STEPS = st.lists(
    st.tuples(
        st.sampled_from(["worker", "api", "read"]),
        st.sampled_from(range(len(CHANGES))),
        st.sampled_from([T0, T0 + DAY, T0 + 2 * DAY + DAY / 2, T0 + 4 * DAY, T0 + 9 * DAY]),
    ),
    max_size=20,
)


@settings(max_examples=30, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(steps=STEPS)
def test_every_read_agrees_with_a_fresh_decision(
    hub: Hub, steps: list[tuple[str, int, datetime]]
) -> None:
    """Any interleaving of the worker's applies, the API's folds and reads at any time: each
    read shows, and discloses, what deciding anew on the store's facts at that time would."""
    hub.offset = hub.worker.next_offset(TOPIC, 0) or 0  # one database across examples
    for kind, change, at in steps:
        if kind == "worker":
            hub.apply(CHANGES[change])
        elif kind == "api":
            hub.api.record_now(CHANGES[change])
        hub.now[0] = at
        _agrees(hub)
