"""The subscription tables on SQLite and PostgreSQL, and two refusals of the delivery run.

The alerts are applied in-process here (the store's own ``apply``, as the worker calls it), so
the feed has changes without a worker; the disclosures go to the real broker — or, for the
refusal, to a broker that is not there.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable, Iterator
from datetime import timedelta

import pytest
from sqlalchemy import Engine, select, update

from hub.alerts.changes import Change
from hub.alerts.store import MissedAppointmentStore
from hub.auth.store import ClientStore
from hub.erasure.keystore import open_key_store
from hub.identity.store import IdentityStore
from hub.ingest.sink import CaseEventSink
from hub.kafka.publisher import KafkaPublisher
from hub.settings import Settings
from hub.sharing.agreement import DEFAULT_AGREEMENT, load_agreement
from hub.sharing.policy import Recipient
from hub.sharing.store import SharingStore
from hub.storage.engine import make_engine
from hub.storage.kek import LocalKek, WrongKekError
from hub.subscriptions.delivery import make_deliverer
from hub.subscriptions.models import DeliveryOutcome
from hub.subscriptions.store import ClearSecretError, SubscriptionStore
from hub.subscriptions.tables import subscriptions_metadata, subscriptions_table
from tests.builders import T0, assigned, missed
from tests.support.net import free_port
from tests.support.receiver import Receiver, webhook_receiver

MIDWIFE = Recipient("R0A", "COMMUNITY_MIDWIFE", "mw-1")


@pytest.fixture
def subscriptions(sql_engine: Engine) -> Iterator[SubscriptionStore]:
    subscriptions_metadata.create_all(sql_engine)
    yield SubscriptionStore(sql_engine, LocalKek.generate())
    if sql_engine.dialect.name == "postgresql":
        subscriptions_metadata.drop_all(sql_engine)


def change(seq: int, family: str) -> Change:
    return Change(seq, f"chg_{uuid.uuid4().hex}", uuid.uuid4(), family, "raised", T0)


def test_subscriptions_cursor_delivery_log_and_dead_letters(
    subscriptions: SubscriptionStore,
) -> None:
    created = subscriptions.create(
        "client-1", MIDWIFE, "https://x.example/h", "EPR", cursor=7, now=T0
    )
    assert created.secret.startswith("whsec_")
    assert subscriptions.get(created.subscription_id) == created
    assert subscriptions.owned_by("R0A", "mw-1") == [created]
    assert subscriptions.owned_by("RM3", "mw-1") == []
    sid = created.subscription_id

    first, second, other = change(8, "fam-a"), change(9, "fam-a"), change(10, "fam-b")
    subscriptions.record(sid, other, DeliveryOutcome.DELIVERED, 1, None, T0)
    subscriptions.dead_letter(sid, first, "after 3 attempts: HTTP 500", 3, T0)
    subscriptions.dead_letter(sid, second, "held behind", 0, T0)
    assert subscriptions.dealt_with(sid, first.change_id)
    assert not subscriptions.dealt_with(sid, change(11, "fam-a").change_id)
    assert [d.change for d in subscriptions.dead_letters(sid, "fam-a")] == [first, second]
    assert subscriptions.dead_letters(sid, "fam-b") == []

    assert subscriptions.request_replay(sid, T0) == 2
    assert subscriptions.due_families(sid, T0) == {"fam-a"}
    subscriptions.dead_letter(sid, first, "after 3 attempts: HTTP 503", 3, T0)  # failed again
    again = subscriptions.dead_letters(sid)[0]
    assert (again.attempts, again.reason, again.replay_requested_at) == (
        6,
        "after 3 attempts: HTTP 503",
        None,
    )
    subscriptions.cancel_replay(sid, "fam-a")
    assert subscriptions.due_families(sid, T0) == set()

    subscriptions.record(sid, first, DeliveryOutcome.DELIVERED, 1, None, T0)
    subscriptions.resolve(sid, first.change_id, T0)
    assert [d.change for d in subscriptions.dead_letters(sid)] == [second]
    assert subscriptions.outcome(sid, first.change_id) == (DeliveryOutcome.DELIVERED, 7)
    counts = subscriptions.counts(sid)
    assert (counts.delivered, counts.dead_letters, counts.attempts) == (2, 1, 8)

    subscriptions.move_cursor(sid, 10)
    assert [s.cursor for s in subscriptions.active()] == [10]
    subscriptions.disable(sid, T0 + timedelta(days=1), "deleted by its owner")
    assert subscriptions.active() == []
    assert subscriptions.get(sid) is not None


@pytest.fixture
def alerts(
    make_settings: Callable[..., Settings],
) -> tuple[Settings, MissedAppointmentStore]:
    settings = make_settings(subscription_retry_schedule=[])
    store = MissedAppointmentStore(make_engine(settings.resolved_database_url()))
    store.create_schema()
    # The delivery's sharing check reads the person index and the sharing facts, as the worker
    # (which creates every projection's tables) has them.
    IdentityStore(store.engine).create_schema()
    SharingStore(store.engine).create_schema()
    for offset, event in enumerate([assigned("mw-1"), missed("APT-1")]):
        store.apply("family-events", 0, offset, event)
    return settings, store


def _subscribe(
    settings: Settings, store: MissedAppointmentStore, receiver: Receiver
) -> tuple[ClientStore, str, str]:
    clients = ClientStore(store.engine)
    clients.create_schema()
    client = clients.register("R0A", "COMMUNITY_MIDWIFE", "mw-1").client
    subscriptions = SubscriptionStore(store.engine, settings.key_wrapper())
    subscriptions.create_schema()
    created = subscriptions.create(
        client.client_id, client.recipient(), receiver.url, None, cursor=0, now=T0
    )
    return clients, client.client_id, created.subscription_id


@pytest.mark.kafka
def test_nothing_is_sent_when_the_disclosure_cannot_be_recorded(
    alerts: tuple[Settings, MissedAppointmentStore],
) -> None:
    settings, store = alerts
    agreement = load_agreement(settings.agreement_path or DEFAULT_AGREEMENT)
    dead = KafkaPublisher(f"127.0.0.1:{free_port()}", timeout_s=2, extra_config={"log_level": 0})
    live = KafkaPublisher(settings.bootstrap_servers())
    try:
        with webhook_receiver() as receiver:
            _, _, sid = _subscribe(settings, store, receiver)
            subscriptions = SubscriptionStore(store.engine, settings.key_wrapper())

            refused = make_deliverer(
                settings, store, CaseEventSink(dead, settings, open_key_store(settings)), agreement
            )
            report = asyncio.run(refused.run_once())
            assert report.stopped == 1
            assert receiver.received == []  # nothing leaves without its record
            sub = subscriptions.get(sid)
            assert sub is not None
            assert sub.cursor == 0  # read again next time
            assert subscriptions.counts(sid).attempts == 0

            working = make_deliverer(
                settings, store, CaseEventSink(live, settings, open_key_store(settings)), agreement
            )
            assert asyncio.run(working.run_once()).delivered == 1
            assert receiver.appointments() == ["APT-1"]
    finally:
        dead.close()
        live.close()


@pytest.mark.kafka
def test_a_revoked_clients_subscription_is_disabled(
    alerts: tuple[Settings, MissedAppointmentStore],
) -> None:
    settings, store = alerts
    agreement = load_agreement(settings.agreement_path or DEFAULT_AGREEMENT)
    publisher = KafkaPublisher(settings.bootstrap_servers())
    try:
        with webhook_receiver() as receiver:
            clients, client_id, sid = _subscribe(settings, store, receiver)
            clients.revoke(client_id)
            deliverer = make_deliverer(
                settings,
                store,
                CaseEventSink(publisher, settings, open_key_store(settings)),
                agreement,
            )
            assert asyncio.run(deliverer.run_once()).delivered == 0
            assert receiver.received == []
            disabled = SubscriptionStore(store.engine, settings.key_wrapper()).get(sid)
            assert disabled is not None
            assert disabled.disabled_at is not None
    finally:
        publisher.close()


def test_waiting_changes_are_due_on_schedule_then_dead(subscriptions: SubscriptionStore) -> None:
    created = subscriptions.create(
        "client-1", MIDWIFE, "https://x.example/h", None, cursor=0, now=T0
    )
    sid = created.subscription_id
    first, behind = change(1, "fam-a"), change(2, "fam-a")
    later = T0 + timedelta(minutes=5)
    subscriptions.dead_letter(sid, first, "after 1 attempts: HTTP 503", 1, T0, later)
    subscriptions.dead_letter(sid, behind, "held behind", 0, T0, later)
    assert [w.change for w in subscriptions.waiting(sid)] == [first, behind]
    assert subscriptions.dead_letters(sid) == []  # waiting for a retry is not dead
    assert subscriptions.due_families(sid, T0) == set()
    assert subscriptions.due_families(sid, later) == {"fam-a"}
    assert subscriptions.outcome(sid, first.change_id) == (DeliveryOutcome.RETRYING, 1)
    counts = subscriptions.counts(sid)
    assert (counts.retrying, counts.dead_letters) == (2, 0)
    assert subscriptions.request_replay(sid, T0) == 0  # nothing to replay yet

    subscriptions.reschedule(sid, "fam-a", None)  # the schedule is used up
    assert [d.change for d in subscriptions.dead_letters(sid)] == [first, behind]
    assert subscriptions.due_families(sid, later + timedelta(days=9)) == set()
    assert subscriptions.outcome(sid, first.change_id) == (DeliveryOutcome.DEAD, 1)
    assert subscriptions.request_replay(sid, T0) == 2


def test_a_signing_secret_is_stored_wrapped_and_old_clear_ones_are_wrapped_once(
    sql_engine: Engine,
) -> None:
    subscriptions_metadata.create_all(sql_engine)
    kek = LocalKek.generate()
    store = SubscriptionStore(sql_engine, kek)
    created = store.create("c1", MIDWIFE, "https://example.org/hook", None, cursor=0, now=T0)
    with sql_engine.connect() as connection:
        stored = connection.execute(
            select(subscriptions_table.c.secret).where(
                subscriptions_table.c.subscription_id == created.subscription_id
            )
        ).scalar_one()
    assert stored.startswith("wrapped:")
    assert created.secret not in stored
    assert store.get(created.subscription_id) == created
    with pytest.raises(WrongKekError):
        SubscriptionStore(sql_engine, LocalKek.generate()).get(created.subscription_id)
    with sql_engine.begin() as connection:  # as a database from before ADR 0020 holds it
        connection.execute(
            update(subscriptions_table)
            .where(subscriptions_table.c.subscription_id == created.subscription_id)
            .values(secret=created.secret)
        )
    with pytest.raises(ClearSecretError, match="hub keys migrate"):
        store.get(created.subscription_id)
    assert store.wrap_clear_secrets() == 1
    assert store.wrap_clear_secrets() == 0
    assert store.get(created.subscription_id) == created
    if sql_engine.dialect.name == "postgresql":
        subscriptions_metadata.drop_all(sql_engine)
