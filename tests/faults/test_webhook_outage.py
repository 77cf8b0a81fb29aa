"""A webhook subscriber down for an hour of simulated time (ADR 0016, issue 7).

The worker (a real process on the real broker) folds the events into alerts and the change
feed; a real HTTP receiver answers 503 for an hour, then 200. The test drives the delivery runs
itself on a clock it moves by hand — the retry schedule's waits are in the store, so an hour
passes without sleeping. With the default schedule (5 s, 5 min, 30 min, 2 h, ...) the outage
heals by itself: every change arrives, once, in order per family, and nothing is dead-lettered.
Only when the receiver stays down past the whole schedule (about 27 hours) does a family's
change go to the dead-letter list.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import pytest
from standardwebhooks import Webhook

from hub.alerts.changes import Change, changes_after
from hub.alerts.state import Rules
from hub.alerts.store import MissedAppointmentStore
from hub.alerts.timers import alert_rules
from hub.auth.store import ClientStore
from hub.erasure.keystore import open_key_store
from hub.events import CaseEvent
from hub.ingest.sink import CaseEventSink
from hub.kafka.publisher import KafkaPublisher
from hub.settings import Settings
from hub.sharing.agreement import DEFAULT_AGREEMENT, load_agreement
from hub.storage.engine import make_engine
from hub.subscriptions.delivery import Deliverer, RunReport, make_deliverer
from hub.subscriptions.models import Subscription
from hub.subscriptions.store import SubscriptionStore
from tests.builders import T0, assigned, missed
from tests.support.clock import SimulatedClock
from tests.support.fold import fold_family
from tests.support.processes import eventually, hub_process
from tests.support.receiver import Receiver, webhook_receiver

pytestmark = [pytest.mark.kafka, pytest.mark.faults]

OTHER_MOTHER = "9434765927"
HOUR = 3600.0


@dataclass
class Outage:
    store: MissedAppointmentStore
    sink: CaseEventSink
    subscriptions: SubscriptionStore
    subscription: Subscription
    deliverer: Deliverer
    receiver: Receiver
    clock: SimulatedClock
    log: Path
    rules: Rules

    def expected_changes(self, *families: list[CaseEvent]) -> int:
        """How many alert changes the pure fold makes of these families' events."""
        return sum(len(fold_family(events, self.rules)[1]) for events in families)

    def run(self) -> RunReport:
        return asyncio.run(self.deliverer.run_once())

    def feed(self, count: int) -> list[Change]:
        eventually(
            lambda: len(changes_after(self.store.engine, 0)) >= count,
            timeout_s=60,
            what=f"{count} alert changes in the feed",
            log=self.log,
        )
        return changes_after(self.store.engine, 0)

    def next_due(self) -> float:
        """Seconds until the earliest waiting change is due (the clock jumps there)."""
        due = [
            w.next_attempt_at
            for w in self.subscriptions.waiting(self.subscription.subscription_id)
            if w.next_attempt_at is not None
        ]
        assert due, "nothing is waiting for a retry"
        return max(0.0, (min(due) - self.clock()).total_seconds())

    def delivered_ids(self) -> list[str]:
        """The ``webhook-id`` of every request the receiver answered 2xx, in arrival order."""
        return [r.headers["webhook-id"] for r in self.receiver.received if r.status < 300]


@pytest.fixture
def outage(make_settings: Callable[..., Settings], tmp_path: Path) -> Iterator[Outage]:
    # The default retry schedule; the worker's own delivery timer is kept out of the way.
    settings = make_settings(subscription_interval_seconds=86_400)
    assert settings.subscription_retry_schedule[:4] == [5, 300, 1800, 7200]
    agreement = load_agreement(settings.agreement_path or DEFAULT_AGREEMENT)
    store = MissedAppointmentStore(make_engine(settings.resolved_database_url()))
    store.create_schema()
    publisher = KafkaPublisher(settings.bootstrap_servers())
    sink = CaseEventSink(publisher, settings, open_key_store(settings))
    clock = SimulatedClock()
    deliverer = make_deliverer(settings, store, sink, agreement, clock)
    subscriptions = SubscriptionStore(store.engine, settings.key_wrapper())
    clients = ClientStore(store.engine)
    try:
        with webhook_receiver() as receiver, hub_process("worker", settings, tmp_path):
            client = clients.register("R0A", "COMMUNITY_MIDWIFE", "mw-1").client
            subscription = subscriptions.create(
                client.client_id, client.recipient(), receiver.url, None, cursor=0, now=T0
            )
            yield Outage(
                store,
                sink,
                subscriptions,
                subscription,
                deliverer,
                receiver,
                clock,
                tmp_path / "worker.log",
                alert_rules(settings, agreement),
            )
    finally:
        publisher.close()


def test_an_hour_long_outage_heals_by_itself_in_order(outage: Outage) -> None:
    sid = outage.subscription.subscription_id
    back_at = outage.clock() + timedelta(seconds=HOUR)
    outage.receiver.status_for = lambda _body: 503 if outage.clock() < back_at else 200
    family_a = [assigned("mw-1"), missed("APT-A1"), missed("APT-A2")]
    family_b = [
        assigned("mw-1", nhs_number=OTHER_MOTHER),
        missed("APT-B1", nhs_number=OTHER_MOTHER),
    ]
    for event in family_a + family_b:
        outage.sink.publish_sync(event)
    outage.feed(outage.expected_changes(family_a, family_b))

    # The hour, one run a minute (as the worker's timer would, far more often): a change that
    # arrives during the outage is queued behind its family's waiting change, nothing is dead.
    for minute in range(60):
        if minute == 20:
            family_a.append(missed("APT-A3"))
            family_b.append(missed("APT-B2", nhs_number=OTHER_MOTHER))
            outage.sink.publish_sync(family_a[-1])
            outage.sink.publish_sync(family_b[-1])
            outage.feed(outage.expected_changes(family_a, family_b))
        outage.run()
        outage.clock.advance(60)
    counts = outage.subscriptions.counts(sid)
    assert counts.delivered == 0
    assert counts.dead_letters == 0
    assert counts.retrying == len(changes_after(outage.store.engine, 0))
    failed_attempts = len(outage.receiver.received)
    # per family, the first change at minute 0, 1 (due at 5 s), 6 (5 min later) and 36 (30 min
    # later): four attempts each; the next is due two hours after the fourth
    assert failed_attempts == 4 * 2

    # After the hour: the next scheduled attempt (2 h after the fourth) finds the receiver up.
    outage.clock.advance(outage.next_due())
    report = outage.run()
    feed = changes_after(outage.store.engine, 0)
    assert report.delivered == len(feed)
    assert (report.retrying, report.dead_lettered) == (0, 0)

    # Nothing skipped, nothing twice, each family in feed order; signatures verify.
    delivered = outage.delivered_ids()
    assert sorted(delivered) == sorted(c.change_id for c in feed)
    assert len(feed) == outage.expected_changes(family_a, family_b)
    seq_of = {c.change_id: (c.family_key, c.seq) for c in feed}
    for family in {c.family_key for c in feed}:
        arrived = [seq_of[i][1] for i in delivered if seq_of[i][0] == family]
        assert arrived == sorted(arrived)
        assert len(arrived) == sum(1 for c in feed if c.family_key == family)
    webhook = Webhook(outage.subscription.secret)
    for received in outage.receiver.received[failed_attempts:]:
        assert webhook.verify(received.body, received.headers) == received.payload
    assert outage.subscriptions.waiting(sid) == []
    assert outage.subscriptions.counts(sid).dead_letters == 0
    assert outage.run().attempts == 0  # and nothing is sent again


def test_only_a_schedule_used_up_dead_letters(outage: Outage) -> None:
    sid = outage.subscription.subscription_id
    outage.receiver.status_for = lambda _body: 503
    outage.sink.publish_sync(assigned("mw-1"))
    outage.sink.publish_sync(missed("APT-A1"))
    [change] = outage.feed(outage.expected_changes([assigned("mw-1"), missed("APT-A1")]))
    started = outage.clock()
    attempts = 0
    while outage.subscriptions.waiting(sid) == [] or outage.subscriptions.counts(sid).retrying:
        report = outage.run()
        attempts += report.attempts
        if outage.subscriptions.counts(sid).retrying:
            outage.clock.advance(outage.next_due())
    schedule = [5, 300, 1800, 7200, 18000, 36000, 36000]
    assert attempts == len(schedule) + 1
    assert (outage.clock() - started).total_seconds() == sum(schedule)  # about 27.6 hours
    [dead] = outage.subscriptions.dead_letters(sid)
    assert dead.change.change_id == change.change_id
    assert dead.attempts == len(schedule) + 1
    assert "HTTP 503" in dead.reason
    assert {r.headers["webhook-id"] for r in outage.receiver.received} == {change.change_id}
