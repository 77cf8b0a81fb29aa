"""Rebalance churn: worker processes in one consumer group go 1 → 3 → 2 while events flow.

Modelled on Kafka's own system tests (acknowledged data consumed, nothing twice, order per key):
real ``hub worker`` processes on the real broker and one PostgreSQL database, topics with six
partitions, a real webhook receiver and a partner topic. Webhook delivery and the partner-topic
relay run as Faust ``on_leader=True`` timers every second, so the leader changes while they run
— when workers join, and when the first (the leader) leaves. Afterwards:

* no skipped offsets: every projection's stored position is each partition's end offset;
* no duplicated side effects: each alert change once in the feed, each change delivered to the
  webhook once (a repeat would carry the same ``webhook-id``; the receiver's de-duplicated view
  is checked too), one disclosure per change and subscriber, one partner-topic record per
  change;
* per-family order: the feed's ``seq`` order of a family follows its log order, and the
  receiver gets each family's changes in that order;
* the alerts equal what the pure fold computes from the same events.

The second test makes the overlap that a change of leader can cause happen on purpose: two
delivery runs at once over one database (without the lease, both sent and disclosed).
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections import Counter
from collections.abc import Callable
from contextlib import ExitStack
from pathlib import Path

import pytest
from confluent_kafka import Message
from sqlalchemy import Engine, select

from hub.alerts.changes import Change, changes_after, last_seq
from hub.alerts.fold import alert_id_for
from hub.alerts.store import MissedAppointmentStore
from hub.alerts.timers import alert_rules
from hub.auth.store import ClientStore
from hub.disclosures import Channel
from hub.erasure.keystore import open_key_store
from hub.events import CaseEvent
from hub.identity.store import IdentityStore
from hub.ingest.sink import CaseEventSink
from hub.kafka.publisher import KafkaPublisher
from hub.nhs_number import valid_nhs_numbers
from hub.settings import Settings
from hub.sharing.agreement import DEFAULT_AGREEMENT, load_agreement
from hub.sharing.store import SharingStore
from hub.storage.engine import make_engine
from hub.storage.positions import positions
from hub.subscriptions.delivery import make_deliverer
from hub.subscriptions.partner_topics import cursors, topic_for
from hub.subscriptions.store import SubscriptionStore
from tests.builders import T0, TRUST, assigned, missed
from tests.faults.support import end_offsets
from tests.support.fold import fold_family
from tests.support.postgres import fresh_database
from tests.support.processes import eventually, hub_process
from tests.support.receiver import Receiver, webhook_receiver
from tests.support.topics import disclosures_read, read_topic

pytestmark = [pytest.mark.kafka, pytest.mark.postgres, pytest.mark.faults]

FAMILIES = 30
MISSED_EACH = 3
PARTITIONS = 6


def family_events() -> list[list[CaseEvent]]:
    """Per family (one mother each): her midwife assigned, then appointments missed."""
    numbers = valid_nhs_numbers(943_500_000)
    families = []
    for i in range(FAMILIES):
        nhs = next(numbers)
        events = [assigned("mw-1", nhs_number=nhs)]
        events += [missed(f"APT-{i}-{j}", nhs_number=nhs) for j in range(1, MISSED_EACH + 1)]
        families.append(events)
    return families


def skipped_offsets(engine: Engine, servers: str, topics: list[str]) -> dict[str, int]:
    """Per projection and topic, how many entries lie between its positions and the end."""
    with engine.connect() as connection:
        rows = connection.execute(select(positions)).all()
    gaps: dict[str, int] = {}
    for topic in topics:
        ends = end_offsets(servers, topic, PARTITIONS)
        stored: dict[str, dict[int, int]] = {}
        for row in rows:
            if row.topic == topic:
                stored.setdefault(row.projection, {})[row.partition] = int(row.next_offset)
        assert stored, f"no projection reads {topic}"
        for projection, at in stored.items():
            gaps[f"{projection}@{topic}"] = sum(ends[p] - at.get(p, 0) for p in ends)
    return gaps


def test_workers_one_three_two_while_events_flow(
    make_settings: Callable[..., Settings], postgres_url: str, tmp_path: Path
) -> None:
    with fresh_database(postgres_url) as database_url, webhook_receiver() as receiver:
        engine = make_engine(database_url)
        clients = ClientStore(engine)
        clients.create_schema()
        partner = clients.register("R0A", "PARTNER_SYSTEM", "r0a-epr").client
        settings = make_settings(
            database_url=database_url,
            topic_partitions=PARTITIONS,
            subscription_interval_seconds=1,
            alert_sweep_seconds=86_400,  # no timer events: the fold sees exactly what we send
            partner_topic_clients=[partner.client_id],
        )
        store = MissedAppointmentStore(engine)
        store.create_schema()
        subscriptions = SubscriptionStore(engine, settings.key_wrapper())
        subscriptions.create_schema()
        midwife = clients.register("R0A", "COMMUNITY_MIDWIFE", "mw-1").client
        subscription = subscriptions.create(
            midwife.client_id, midwife.recipient(), receiver.url, None, cursor=0, now=T0
        )
        families = family_events()
        publisher = KafkaPublisher(settings.bootstrap_servers())
        sink = CaseEventSink(publisher, settings, open_key_store(settings))  # one engine, disposed

        def publish() -> None:  # round by round: each family's events in order, interleaved
            for step in range(1 + MISSED_EACH):
                for events in families:
                    sink.publish_sync(events[step])
                    time.sleep(0.3)

        flow = threading.Thread(target=publish, daemon=True)
        logs = [tmp_path / f"worker-{n}" for n in (1, 2, 3)]
        for log in logs:
            log.mkdir()
        try:
            with ExitStack() as workers:
                first = ExitStack()
                first.enter_context(hub_process("worker", settings, logs[0]))
                flow.start()
                time.sleep(8)
                for log in logs[1:]:  # 1 → 3
                    workers.enter_context(hub_process("worker", settings, log))
                time.sleep(14)
                first.close()  # 3 → 2: the first worker, the leader at the start, leaves
                flow.join(120)
                assert not flow.is_alive()
                _converge(
                    settings, store, subscription.subscription_id, partner.client_id, receiver
                )
                gaps = skipped_offsets(
                    engine,
                    settings.bootstrap_servers(),
                    [
                        settings.case_events_topic,
                        settings.family_events_topic,
                        settings.disclosures_topic,
                    ],
                )
            assert set(gaps.values()) == {0}, gaps
            _check_side_effects(settings, store, families, subscription.subscription_id, receiver)
            _check_partner_topic(settings, store, partner.client_id)
        finally:
            publisher.close()
            engine.dispose()


def _converge(
    settings: Settings,
    store: MissedAppointmentStore,
    subscription_id: str,
    partner_id: str,
    receiver: Receiver,
) -> None:
    expected = FAMILIES * MISSED_EACH  # at least the raised changes

    def done() -> bool:
        feed = changes_after(store.engine, 0, limit=10_000)
        if len(feed) < expected:
            return False
        with store.engine.connect() as connection:
            relayed = connection.execute(
                select(cursors.c.seq).where(cursors.c.client_id == partner_id)
            ).scalar_one_or_none()
        accepted = {r.headers["webhook-id"] for r in receiver.accepted()}
        return relayed == last_seq(store.engine) and accepted >= {c.change_id for c in feed}

    eventually(done, timeout_s=150, what="every change delivered and relayed")
    time.sleep(3)  # a run in flight would show as a duplicate


def _check_side_effects(
    settings: Settings,
    store: MissedAppointmentStore,
    families: list[list[CaseEvent]],
    subscription_id: str,
    receiver: Receiver,
) -> None:
    feed = changes_after(store.engine, 0, limit=10_000)
    rules = alert_rules(settings, load_agreement(settings.agreement_path or DEFAULT_AGREEMENT))
    by_alert = {c.alert_id: c for c in feed}
    for i, events in enumerate(families):
        first_alert = alert_id_for(TRUST, f"APT-{i}-1")
        group = by_alert[first_alert].family_key
        expected, expected_changes = fold_family(events, rules, group)
        assert store.state_of(group).alerts == expected.alerts, f"family {i}"
        ours = [c for c in feed if c.family_key == group]
        # the feed: each change once, in the family's log order
        assert [(c.alert_id, c.change) for c in ours] == [
            (e.alert.alert_id, e.change) for e in expected_changes
        ], f"family {i}"

    # webhooks: every change, once, in order per family
    answered = [r for r in receiver.received if r.status < 300]
    ids = [r.headers["webhook-id"] for r in answered]
    duplicates = {i: n for i, n in Counter(ids).items() if n > 1}
    assert duplicates == {}, f"sent twice: {duplicates}"
    accepted = [r.headers["webhook-id"] for r in receiver.accepted()]
    assert sorted(accepted) == sorted(c.change_id for c in feed)
    seq_of = {c.change_id: c for c in feed}
    for group in {c.family_key for c in feed}:
        arrived = [seq_of[i].seq for i in accepted if seq_of[i].family_key == group]
        assert arrived == sorted(arrived), f"family {group} out of order"

    # disclosures: one per change and subscriber, for the webhook and the partner topic
    ends = end_offsets(settings.bootstrap_servers(), settings.disclosures_topic, PARTITIONS)
    codec = disclosures_read(settings)
    records = [
        codec.decode(m.value() or b"")
        for m in read_topic(
            settings.bootstrap_servers(), settings.disclosures_topic, expect=sum(ends.values())
        )
    ]
    webhook = Counter(
        d.reference.split()[2]
        for d in records
        if d.channel is Channel.WEBHOOK and d.reference.split()[1] == subscription_id
    )
    partner = Counter(  # "partner topic <topic> change <change id> ..."
        d.reference.split()[4] for d in records if d.channel is Channel.PARTNER_TOPIC
    )
    every = {c.change_id: 1 for c in feed}
    assert dict(webhook) == every
    assert dict(partner) == every


def _check_partner_topic(settings: Settings, store: MissedAppointmentStore, client_id: str) -> None:
    feed = changes_after(store.engine, 0, limit=10_000)
    records = read_topic(settings.bootstrap_servers(), topic_for(client_id), expect=len(feed))
    written = Counter(_header(m, "change-id") for m in records)
    assert dict(written) == {c.change_id: 1 for c in feed}


def _header(message: Message, name: str) -> str:
    headers = message.headers() or []
    value = dict(headers.items() if isinstance(headers, dict) else headers)[name]
    assert isinstance(value, bytes)
    return value.decode()


def test_two_delivery_runs_at_once_send_and_disclose_each_change_once(
    make_settings: Callable[..., Settings],
) -> None:
    """What two leaders for a moment do: both runs start; one sends, the other stands aside."""
    settings = make_settings()
    agreement = load_agreement(settings.agreement_path or DEFAULT_AGREEMENT)
    store = MissedAppointmentStore(make_engine(settings.resolved_database_url()))
    store.create_schema()
    # The delivery's sharing check reads the person index and the sharing facts, as the worker
    # (which creates every projection's tables) has them.
    IdentityStore(store.engine).create_schema()
    SharingStore(store.engine).create_schema()
    events = [assigned("mw-1"), missed("APT-1"), missed("APT-2")]
    for offset, event in enumerate(events):
        store.apply("family-events", 0, offset, event)
    feed: list[Change] = changes_after(store.engine, 0)
    publisher = KafkaPublisher(settings.bootstrap_servers())
    try:
        with webhook_receiver() as receiver:
            clients = ClientStore(store.engine)
            clients.create_schema()
            client = clients.register("R0A", "COMMUNITY_MIDWIFE", "mw-1").client
            subscriptions = SubscriptionStore(store.engine, settings.key_wrapper())
            subscriptions.create_schema()
            sid = subscriptions.create(
                client.client_id, client.recipient(), receiver.url, None, cursor=0, now=T0
            ).subscription_id
            slow = receiver.status_for

            def slowly(body: str) -> int:  # the old leader's run is still sending ...
                time.sleep(0.5)
                return slow(body)

            receiver.status_for = slowly
            old, new = (
                make_deliverer(
                    settings,
                    store,
                    CaseEventSink(publisher, settings, open_key_store(settings)),
                    agreement,
                )
                for _ in range(2)
            )

            async def both() -> tuple[int, int]:
                reports = await asyncio.gather(old.run_once(), new.run_once())
                return reports[0].delivered, reports[1].delivered

            delivered = asyncio.run(both())
            assert sorted(delivered) == [0, len(feed)]  # ... and the new one stands aside
            ids = [r.headers["webhook-id"] for r in receiver.received]
            assert sorted(ids) == sorted(c.change_id for c in feed)  # each once
            assert len(receiver.accepted()) == len(feed)
            # the next run of either finds nothing left, and takes the lease at once
            assert asyncio.run(new.run_once()).delivered == 0
            assert not asyncio.run(new.run_once()).skipped
            disclosures = read_topic(
                settings.bootstrap_servers(), settings.disclosures_topic, expect=len(feed)
            )
            assert len(disclosures) == len(feed)  # one record per change
            assert subscriptions.counts(sid).delivered == len(feed)
    finally:
        publisher.close()
