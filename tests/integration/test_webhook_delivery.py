"""Outgoing webhooks against the real broker, worker and a real HTTP receiver (ADR 0016).

The worker folds the events into alerts and the change feed; the test drives the delivery run
itself (``Deliverer.run_once``, as ``hub subscriptions deliver --once`` does) so each step is
observable, and the last test shows the worker's own timer delivering.
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import pytest
from standardwebhooks import Webhook

from hub.alerts.changes import Change, changes_after, last_seq
from hub.alerts.store import MissedAppointmentStore
from hub.auth.store import ClientStore
from hub.disclosures import Channel, Disclosure
from hub.erasure.keystore import open_key_store
from hub.events import CaseEvent
from hub.ingest.sink import CaseEventSink
from hub.kafka.publisher import KafkaPublisher
from hub.settings import Settings
from hub.sharing.agreement import DEFAULT_AGREEMENT, load_agreement
from hub.sharing.policy import Recipient, Subject
from hub.sharing.store import SharingStore
from hub.storage.engine import make_engine
from hub.subscriptions.delivery import Deliverer, RunReport, make_deliverer
from hub.subscriptions.models import DeliveryOutcome, Subscription
from hub.subscriptions.store import SubscriptionStore
from hub.vocabulary import PractitionerRole
from tests.builders import HOME_START, NHS_NUMBER, T0, assigned, consented, missed, withdrawn
from tests.support.clock import SimulatedClock
from tests.support.processes import eventually, hub_process, settings_env
from tests.support.receiver import Receiver, webhook_receiver
from tests.support.topics import disclosures_read, read_topic

pytestmark = pytest.mark.kafka

OTHER_MOTHER = "9434765927"  # another family


@dataclass
class Hub:
    settings: Settings
    store: MissedAppointmentStore
    sink: CaseEventSink
    subscriptions: SubscriptionStore
    clients: ClientStore
    deliverer: Deliverer
    receiver: Receiver
    log: Path
    clock: SimulatedClock

    def publish(self, *events: CaseEvent) -> None:
        for event in events:
            self.sink.publish_sync(event)

    def subscribe(self, recipient: Recipient) -> Subscription:
        client = self.clients.register(
            recipient.organisation_code, recipient.role, recipient.user_id
        ).client
        return self.subscriptions.create(
            client.client_id,
            recipient,
            self.receiver.url,
            None,
            cursor=last_seq(self.store.engine),
            now=T0,
        )

    def feed_after(self, subscription: Subscription, count: int) -> list[Change]:
        """Wait for ``count`` changes after the subscription's start; return them."""
        eventually(
            lambda: len(changes_after(self.store.engine, subscription.cursor)) >= count,
            timeout_s=60,
            what=f"{count} alert changes in the feed",
            log=self.log,
        )
        return changes_after(self.store.engine, subscription.cursor)

    def run(self) -> RunReport:
        return asyncio.run(self.deliverer.run_once())

    def disclosures(self, expect: int) -> list[Disclosure]:
        codec = disclosures_read(self.settings)
        messages = read_topic(
            self.settings.bootstrap_servers(), self.settings.disclosures_topic, expect=expect
        )
        return [codec.decode(m.value() or b"") for m in messages]


def appointment_of(store: MissedAppointmentStore, change: Change) -> str:
    view = store.alert(change.alert_id)
    assert view is not None
    return view.alert.appointment.appointment_id


@pytest.fixture
def hub(make_settings: Callable[..., Settings], tmp_path: Path) -> Iterator[Hub]:
    # The worker's own delivery timer stays out of the way (once a day); the test runs it,
    # on a clock it moves by hand. Three attempts: at once, 5 s later, 5 min after that.
    settings = make_settings(
        subscription_interval_seconds=86_400, subscription_retry_schedule=[5, 300]
    )
    agreement = load_agreement(settings.agreement_path or DEFAULT_AGREEMENT)
    store = MissedAppointmentStore(make_engine(settings.resolved_database_url()))
    store.create_schema()
    publisher = KafkaPublisher(settings.bootstrap_servers())
    sink = CaseEventSink(publisher, settings, open_key_store(settings))
    clock = SimulatedClock()
    deliverer = make_deliverer(settings, store, sink, agreement, clock)
    try:
        with webhook_receiver() as receiver, hub_process("worker", settings, tmp_path):
            yield Hub(
                settings,
                store,
                sink,
                SubscriptionStore(store.engine, settings.key_wrapper()),
                ClientStore(store.engine),
                deliverer,
                receiver,
                tmp_path / "worker.log",
                clock,
            )
    finally:
        publisher.close()


def test_a_destination_no_longer_allowed_gets_nothing(hub: Hub) -> None:
    """The worker checks the URL at every attempt, not only when the subscription was made."""
    hub.publish(assigned("mw-1"))
    subscription = hub.subscribe(Recipient("R0A", "COMMUNITY_MIDWIFE", "mw-1"))
    hub.publish(missed("APT-A1"))
    [change] = hub.feed_after(subscription, 1)
    agreement = load_agreement(hub.settings.agreement_path or DEFAULT_AGREEMENT)
    public_only = hub.settings.model_copy(update={"subscription_allowed_networks": []})
    report = asyncio.run(make_deliverer(public_only, hub.store, hub.sink, agreement).run_once())
    # Refused like a receiver that is down: it waits for its retry with the reason, unsent.
    assert (report.delivered, report.retrying) == (0, 1)
    assert hub.receiver.received == []
    [waiting] = hub.subscriptions.waiting(subscription.subscription_id)
    assert waiting.change.change_id == change.change_id
    assert "127.0.0.1" in waiting.reason
    assert "not a public address" in waiting.reason


def test_signed_retried_dead_lettered_replayed_in_order_per_family(hub: Hub) -> None:
    hub.publish(assigned("mw-1"), assigned("mw-1", nhs_number=OTHER_MOTHER))
    subscription = hub.subscribe(Recipient("R0A", "COMMUNITY_MIDWIFE", "mw-1"))
    hub.publish(missed("APT-A1"), missed("APT-A2"), missed("APT-B1", nhs_number=OTHER_MOTHER))
    changes = hub.feed_after(subscription, 3)
    change_of = {appointment_of(hub.store, c): c for c in changes}
    assert change_of["APT-A1"].family_key == change_of["APT-A2"].family_key
    assert change_of["APT-B1"].family_key != change_of["APT-A1"].family_key

    # The receiver fails family A's first change: it waits for its retry, A's second change is
    # queued behind it; family B proceeds. Nothing is tried again before it is due.
    hub.receiver.status_for = lambda body: 500 if "APT-A1" in body else 200
    report = hub.run()
    assert (report.delivered, report.retrying, report.held) == (1, 1, 1)
    assert sorted(hub.receiver.appointments()) == ["APT-A1", "APT-B1"]
    assert hub.run().attempts == 0
    hub.clock.advance(5)
    assert (hub.run().retrying, len(hub.receiver.received)) == (1, 3)
    hub.clock.advance(299)
    assert hub.run().attempts == 0  # not yet
    hub.clock.advance(1)
    report = hub.run()  # the third and last attempt: the family's changes are dead letters
    assert (report.attempts, report.dead_lettered) == (1, 1)
    assert sorted(hub.receiver.appointments()) == ["APT-A1"] * 3 + ["APT-B1"]
    attempts_a1 = [r for r in hub.receiver.received if r.appointment_id == "APT-A1"]
    assert len(attempts_a1) == 3  # the configured attempts
    assert {r.headers["webhook-id"] for r in attempts_a1} == {change_of["APT-A1"].change_id}
    webhook = Webhook(subscription.secret)
    for received in hub.receiver.received:
        assert webhook.verify(received.body, received.headers) == received.payload
        assert received.payload["type"] == "alert.raised"
    dead = hub.subscriptions.dead_letters(subscription.subscription_id)
    assert [d.change.change_id for d in dead] == [
        change_of["APT-A1"].change_id,
        change_of["APT-A2"].change_id,
    ]
    assert dead[0].attempts == 3
    assert "HTTP 500" in dead[0].reason
    assert "held behind" in dead[1].reason
    assert dead[1].attempts == 0

    # A later change of family A waits too; a later change of family B does not.
    hub.publish(missed("APT-A3"), missed("APT-B2", nhs_number=OTHER_MOTHER))
    hub.feed_after(subscription, 5)
    before = len(hub.receiver.received)
    report = hub.run()
    assert (report.delivered, report.held) == (1, 1)
    assert [r.appointment_id for r in hub.receiver.received[before:]] == ["APT-B2"]

    # Replay: the receiver is back; A's changes arrive in order, with the same ids as before.
    hub.receiver.status_for = lambda _body: 200
    assert hub.subscriptions.request_replay(subscription.subscription_id, T0) == 3
    before = len(hub.receiver.received)
    report = hub.run()
    assert report.delivered == 3
    replayed = hub.receiver.received[before:]
    assert [r.appointment_id for r in replayed] == ["APT-A1", "APT-A2", "APT-A3"]
    assert replayed[0].headers["webhook-id"] == change_of["APT-A1"].change_id
    assert all(webhook.verify(r.body, r.headers) for r in replayed)
    assert hub.subscriptions.dead_letters(subscription.subscription_id) == []
    outcome = hub.subscriptions.outcome(subscription.subscription_id, change_of["APT-A1"].change_id)
    assert outcome == (DeliveryOutcome.DELIVERED, 4)  # 3 failed attempts, then the replay

    # Nothing is sent twice.
    before = len(hub.receiver.received)
    assert hub.run().delivered == 0
    assert len(hub.receiver.received) == before

    # Every change sent is on record as a webhook disclosure, with what was released.
    sent_ids = {r.headers["webhook-id"] for r in hub.receiver.received}
    on_record = [d for d in hub.disclosures(expect=6) if d.channel is Channel.WEBHOOK]
    recorded_ids = {d.reference.split()[2] for d in on_record if d.items}
    assert sent_ids <= recorded_ids
    assert all(d.recipient_user == "mw-1" for d in on_record)


def test_a_consent_withdrawn_after_subscribing_stops_delivery(hub: Hub) -> None:
    hub.publish(
        assigned("hs-3", PractitionerRole.KEY_WORKER, organisation_code=HOME_START),
        consented("sf-consent-1", (HOME_START,)),
    )
    sharing = SharingStore(hub.store.engine)
    sharing.create_schema()
    eventually(
        lambda: sharing.facts_for(Subject(NHS_NUMBER)).consents != (),
        timeout_s=60,
        what="the consent applied",
        log=hub.log,
    )
    subscription = hub.subscribe(Recipient(HOME_START, "KEY_WORKER", "hs-3"))
    hub.publish(missed("APT-1"))
    [first] = hub.feed_after(subscription, 1)
    assert hub.run().delivered == 1  # with consent: sent, demographics included
    [sent] = hub.receiver.received
    assert sent.payload["data"]["alert"]["person"]["nhs_number"] == NHS_NUMBER

    hub.publish(withdrawn((HOME_START,), at=T0 + timedelta(days=1)))
    eventually(
        lambda: sharing.facts_for(Subject(NHS_NUMBER)).withdrawals != (),
        timeout_s=60,
        what="the withdrawal applied",
        log=hub.log,
    )
    hub.publish(missed("APT-2"))
    second = hub.feed_after(subscription, 2)[1]
    report = hub.run()
    assert (report.delivered, report.withheld) == (0, 1)
    assert len(hub.receiver.received) == 1  # nothing sent after the withdrawal
    outcome = hub.subscriptions.outcome(subscription.subscription_id, second.change_id)
    assert outcome == (DeliveryOutcome.WITHHELD, 0)

    webhook_records = [d for d in hub.disclosures(expect=2) if d.channel is Channel.WEBHOOK]
    by_change = {d.reference.split()[2]: d for d in webhook_records}
    assert by_change[first.change_id].items != ()
    refused = by_change[second.change_id]
    assert refused.items == ()  # nothing disclosed ...
    assert any("withdrawn" in w.reason for w in refused.withheld)  # ... and the refusal on record


def test_the_workers_timer_delivers(make_settings: Callable[..., Settings], tmp_path: Path) -> None:
    settings = make_settings(subscription_interval_seconds=0.5)
    store = MissedAppointmentStore(make_engine(settings.resolved_database_url()))
    store.create_schema()
    subscriptions = SubscriptionStore(store.engine, settings.key_wrapper())
    subscriptions.create_schema()
    clients = ClientStore(store.engine)
    clients.create_schema()
    publisher = KafkaPublisher(settings.bootstrap_servers())
    sink = CaseEventSink(publisher, settings, open_key_store(settings))
    try:
        with webhook_receiver() as receiver, hub_process("worker", settings, tmp_path):
            client = clients.register("R0A", "COMMUNITY_MIDWIFE", "mw-1").client
            subscription = subscriptions.create(
                client.client_id,
                client.recipient(),
                receiver.url,
                "the EPR's inbox",
                cursor=0,
                now=T0,
            )
            sink.publish_sync(assigned("mw-1"))
            sink.publish_sync(missed("APT-1"))
            eventually(
                lambda: receiver.appointments() == ["APT-1"],
                timeout_s=90,
                what="the worker's delivery",
                log=tmp_path / "worker.log",
            )
            [received] = receiver.received
            assert Webhook(subscription.secret).verify(received.body, received.headers)
    finally:
        publisher.close()


def test_hub_subscriptions_deliver_once(
    make_settings: Callable[..., Settings], tmp_path: Path
) -> None:
    settings = make_settings()
    engine = make_engine(settings.resolved_database_url())
    SubscriptionStore(engine, settings.key_wrapper()).create_schema()
    ClientStore(engine).create_schema()
    client = ClientStore(engine).register("R0A", "COMMUNITY_MIDWIFE", "mw-1").client
    SubscriptionStore(engine, settings.key_wrapper()).create(
        client.client_id, client.recipient(), "http://127.0.0.1:9/", None, cursor=0, now=T0
    )
    done = subprocess.run(
        [sys.executable, "-m", "hub", "subscriptions", "deliver", "--once"],
        env=settings_env(settings),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert "delivered 0" in done.stdout
    assert "subscriptions 1" in done.stdout
