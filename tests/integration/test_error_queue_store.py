"""The error queue's store on both SQL adapters: a batch in one transaction with its position,
the same input folding into one item, the engineer's record beside it, purges (ADR 0030)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from sqlalchemy import Engine

from hub.erasure.sealing import Erasure
from hub.errorqueue.fold import Channel, Filter, Refusal, Status
from hub.errorqueue.store import Action, Correction, QuarantineStore
from hub.quarantine import quarantine_record
from hub.storage.positions import BatchEntry

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
TOPIC = "hub.quarantine.v1"


def refusal(raw: bytes, *, at: datetime = T0, keys: tuple[str, ...] = ()) -> Refusal:
    record = quarantine_record(
        raw,
        channel="mllp",
        reason="HL7 AE",
        errors=[("PID-3", "no NHS number")],
        source_system="MATPAS@MFT",
    ).model_copy(update={"received_at": at})
    return Refusal(record=record, sealed=b"sealed:" + raw, key_ids=keys)


def store_on(engine: Engine) -> QuarantineStore:
    store = QuarantineStore(engine, lambda system: "R0A" if system == "MATPAS@MFT" else None)
    store.create_schema()
    return store


def test_a_batch_folds_one_item_per_input_once(sql_engine: Engine) -> None:
    store = store_on(sql_engine)
    batch = [
        BatchEntry(0, refusal(b"one", keys=("k1",))),
        BatchEntry(1, refusal(b"two")),
        BatchEntry(2, refusal(b"one", at=T0 + timedelta(minutes=5))),
        BatchEntry(3, None),  # undecodable: only the position moves
    ]
    assert store.apply_batch(TOPIC, 0, batch) == 4
    assert store.apply_batch(TOPIC, 0, batch) == 0  # redelivered: nothing applied twice
    assert store.next_offset(TOPIC, 0) == 4
    entries = store.entries()
    assert [(e.item.times, e.status) for e in entries] == [(2, Status.OPEN), (1, Status.OPEN)]
    one = entries[0].item
    assert (one.organisation, one.channel, one.key_ids) == ("R0A", Channel.MLLP, ("k1",))
    assert (one.first_seen, one.last_seen) == (T0, T0 + timedelta(minutes=5))
    assert store.sealed_parts(one.item_id) == [b"sealed:one"]
    assert store.entries(Filter(since=T0 + timedelta(minutes=1)))[0].item == one
    assert store.counts() == {("mllp", "MATPAS@MFT", "PID-3", "open"): 2}


def test_the_engineers_record_and_the_purges(sql_engine: Engine) -> None:
    store = store_on(sql_engine)
    store.apply_batch(TOPIC, 0, [BatchEntry(0, refusal(b"one", keys=("k1",)))])
    store.apply_batch(TOPIC, 0, [BatchEntry(1, refusal(b"old", at=T0 - timedelta(days=40)))])
    [one, old] = store.entries()
    store.record_action(one.item.item_id, Action(Status.DISMISSED, "R0A", "ie-1", T0, note="test"))
    correction = Correction(uuid.uuid4(), one.item.item_id, T0, "R0A", "ie-1", "typo", b"x")
    store.record_correction(correction)
    assert store.entry(one.item.item_id).status is Status.DISMISSED  # type: ignore[union-attr]
    assert store.corrections(one.item.item_id) == [correction]
    assert store.entries(Filter(status=Status.DISMISSED))[0].item == one.item
    # Retention: the item last seen 40 days ago goes.
    assert store.purge(store.last_seen_before(T0 - timedelta(days=30))) == 1
    assert store.entry(old.item.item_id) is None
    # Erasure: the marker of the destroyed key deletes what is sealed with it, and its record.
    marker = Erasure(
        key_id="k1", erasure_id=uuid.uuid4(), erased_at=T0, requested_by="dpo", reason="asked"
    )
    assert store.forget_erased("hub.family-events.v1", 0, 9, marker)
    assert store.entries() == []
    assert store.corrections(one.item.item_id) == []


def test_erasure_reaches_an_item_through_its_corrected_copy(sql_engine: Engine) -> None:
    """The input named nobody, the corrected copy names her: erasing her deletes both."""
    store = store_on(sql_engine)
    store.apply_batch(TOPIC, 0, [BatchEntry(0, refusal(b"no one named"))])
    [entry] = store.entries()
    item_id = entry.item.item_id
    store.record_correction(
        Correction(uuid.uuid4(), item_id, T0, "R0A", "ie-1", "her number", b"x", ("k9",))
    )
    assert store.sealed_with(["k9"]) == [item_id]
    marker = Erasure(
        key_id="k9", erasure_id=uuid.uuid4(), erased_at=T0, requested_by="dpo", reason="asked"
    )
    assert store.forget_erased("hub.family-events.v1", 0, 10, marker)
    assert store.entry(item_id) is None
    assert store.corrections(item_id) == []
