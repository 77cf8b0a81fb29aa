"""The outcomes store on SQLite: a batch in one transaction with its position, idempotent
redelivery, erasure removing the person and the records that name them."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import cast

import pytest

from hub.erasure.sealing import Erasure, LogEntry
from hub.outcomes.store import OutcomesStore
from hub.storage.engine import make_engine
from hub.storage.positions import BatchEntry, PoisonEntriesError
from tests.unit.test_outcomes_fold import BABY, MUM, baby_events, mother_year

TOPIC = "families"


@pytest.fixture
def store(tmp_path: Path) -> OutcomesStore:
    made = OutcomesStore(make_engine(f"sqlite:///{tmp_path / 'hub.db'}"))
    made.create_schema()
    return made


def test_a_batch_is_folded_once_with_its_position(store: OutcomesStore) -> None:
    events = [*mother_year(), *baby_events(None)]
    entries: list[BatchEntry[LogEntry]] = [
        BatchEntry(offset, e, b"family") for offset, e in enumerate(events)
    ]
    assert store.apply_batch(TOPIC, 0, entries) == len(events)
    assert store.next_offset(TOPIC, 0) == len(events)
    first = store.records()
    assert store.apply_batch(TOPIC, 0, entries) == 0  # redelivered: skipped by the position
    assert store.records() == first
    assert {r.subject_key for r in first} == {MUM, BABY}
    assert next(r for r in first if r.subject_key == BABY).mother_keys == (MUM,)


def test_erasing_the_mother_removes_her_and_the_baby_who_names_her(store: OutcomesStore) -> None:
    events = [*mother_year(), *baby_events(None)]
    store.apply_batch(TOPIC, 0, [BatchEntry(i, e, None) for i, e in enumerate(events)])
    erasure = Erasure(
        key_id="k",
        erasure_id=uuid.uuid4(),
        erased_at=datetime(2027, 1, 1, tzinfo=UTC),
        requested_by="355/dpo",
        reason="Article 17 request",
        subjects=(MUM,),
    )
    store.apply_batch(TOPIC, 0, [BatchEntry(len(events), erasure, None)])
    assert store.records() == []
    with store.engine.connect() as connection:
        dump = "\n".join(connection.connection.iterdump())
    assert MUM not in dump


def test_a_refused_entry_writes_nothing(store: OutcomesStore) -> None:
    class Poison:
        def subject_key(self) -> str:
            raise ValueError("no subject")

    entries: list[BatchEntry[LogEntry]] = [
        BatchEntry(0, mother_year()[0], None),
        BatchEntry(1, cast(LogEntry, Poison()), None),  # an entry whose subject is unreadable
    ]
    with pytest.raises(PoisonEntriesError) as refused:
        store.apply_batch(TOPIC, 0, entries)
    assert refused.value.reasons == {1: "no subject"}
    assert store.records() == []
    assert store.next_offset(TOPIC, 0) is None
