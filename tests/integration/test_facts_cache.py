"""The facts a release reads from memory are never staler than the store (issue 19, reads).

:meth:`SharingStore.current_facts` keeps a process's facts while their date — the facts
projection's positions and the counter of folds made outside it — is unchanged. Each store
instance here stands for a process of its own on one database: the API that folds what it has
just published, the worker that applies the log, and a reader (another API process, or the
worker's webhooks). After every change, made by whichever, the reader's cached facts must equal
the facts read from the store afresh.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable, Iterator
from datetime import timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import Engine, event, select
from sqlalchemy.engine import Connection

from hub.bootstrap import ProjectionStores
from hub.erasure.keystore import SubjectKeyStore
from hub.erasure.sealing import Erasure
from hub.events import CaseEvent
from hub.sharing.facts import SharingFacts
from hub.sharing.facts_cache import DateReader
from hub.sharing.policy import Subject
from hub.sharing.store import SharingStore, written_table
from hub.storage.kek import LocalKek
from hub.storage.positions import BatchEntry
from tests.builders import (
    NHS_NUMBER,
    T0,
    consented,
    override,
    override_ended,
    registered,
    withdrawn,
)

TOPIC = "family-events"
SUBJECT = Subject(NHS_NUMBER)
OTHER = "4010232137"


@pytest.fixture
def stores(sql_engine: Engine) -> Iterator[tuple[SharingStore, SharingStore, SharingStore]]:
    """The API's, the worker's and a reader's stores on one database."""
    api, worker, reader = (
        SharingStore(sql_engine),
        SharingStore(sql_engine),
        SharingStore(sql_engine),
    )
    api.create_schema()
    yield api, worker, reader
    written_table.drop(sql_engine, checkfirst=True)  # not a derived table: the fixture keeps it


def _erasure() -> Erasure:
    return Erasure(
        key_id="k1",
        erasure_id=uuid.uuid4(),
        erased_at=T0,
        requested_by="dpo",
        reason="subject's request",
        subjects=(NHS_NUMBER,),
    )


def _facts_queries(engine: Engine, read: Callable[[], SharingFacts]) -> tuple[SharingFacts, int]:
    """What ``read`` returns, and how many statements on the facts table it made."""
    seen: list[str] = []

    def note(connection: Connection, cursor: object, statement: str, *args: object) -> None:
        if re.search(r"FROM sharing_facts\b", statement):
            seen.append(statement)

    event.listen(engine, "before_cursor_execute", note)
    try:
        return read(), len(seen)
    finally:
        event.remove(engine, "before_cursor_execute", note)


def test_an_unchanged_store_is_read_from_memory(
    stores: tuple[SharingStore, SharingStore, SharingStore],
) -> None:
    _api, worker, reader = stores
    worker.apply(TOPIC, 0, 0, consented("c-1"))
    assert _facts_queries(reader.engine, lambda: reader.current_facts(SUBJECT))[1] == 1
    again, queries = _facts_queries(reader.engine, lambda: reader.current_facts(SUBJECT))
    assert (again, queries) == (reader.facts_for(SUBJECT), 0)
    worker.apply(TOPIC, 0, 1, withdrawn())  # the worker changes the facts: read again
    after, queries = _facts_queries(reader.engine, lambda: reader.current_facts(SUBJECT))
    assert (after, queries) == (reader.facts_for(SUBJECT), 1)
    assert after.withdrawals


def test_entries_that_change_no_fact_keep_the_cache(
    stores: tuple[SharingStore, SharingStore, SharingStore],
) -> None:
    """Heavy ingest moves the projection's position at every entry; the facts' date moves only
    when facts change, so reads meanwhile are still served from memory."""
    _api, worker, reader = stores
    worker.apply(TOPIC, 0, 0, consented("c-1"))
    assert _facts_queries(reader.engine, lambda: reader.current_facts(SUBJECT))[1] == 1
    worker.apply_batch(TOPIC, 0, [BatchEntry(o, registered()) for o in range(1, 50)])
    worker.apply(TOPIC, 1, 0, consented("c-1"))  # folded before: changes nothing
    worker.apply(TOPIC, 1, 1, None)  # dead-lettered: only the position moves
    assert worker.next_offset(TOPIC, 0) == 50
    again, queries = _facts_queries(reader.engine, lambda: reader.current_facts(SUBJECT))
    assert (again, queries) == (reader.facts_for(SUBJECT), 0)


def test_an_erasure_in_this_process_drops_the_cached_facts_at_once(
    stores: tuple[SharingStore, SharingStore, SharingStore], sql_engine: Engine
) -> None:
    """The API that erases shreds the keys (ADR 0025's epoch) and is then idle: the person's
    facts must not stay in its memory until its next read, nor be kept by a read made before
    the worker has applied the erasure's marker (her facts are still in the store then)."""
    api, worker, _reader = stores
    keys = SubjectKeyStore(sql_engine, LocalKek.generate())
    keys.when_erased(api.forget)
    keys.key_for(NHS_NUMBER)
    worker.apply(TOPIC, 0, 0, consented("c-1"))
    assert api.current_facts(SUBJECT).consents
    assert api.cached_subjects == 1
    keys.shred([NHS_NUMBER], T0)
    assert api.cached_subjects == 0  # dropped by the shred, no read needed
    during, queries = _facts_queries(api.engine, lambda: api.current_facts(SUBJECT))
    assert queries == 1
    assert during.consents  # the marker is not applied yet: she is still in the store
    assert api.cached_subjects == 0  # ... but nothing about her is kept
    worker.apply(TOPIC, 0, 1, _erasure())  # the worker applies the marker: the date moves
    after = api.current_facts(SUBJECT)
    assert not after.consents
    assert api.cached_subjects == 1  # caching resumes once the erasure is applied
    assert _facts_queries(api.engine, lambda: api.current_facts(SUBJECT))[1] == 0


def test_an_erasure_another_process_made_drops_the_cache_at_this_one_s_epoch_read(
    stores: tuple[SharingStore, SharingStore, SharingStore], sql_engine: Engine
) -> None:
    _api, worker, reader = stores
    erasing = SubjectKeyStore(sql_engine, LocalKek.generate())
    here = SubjectKeyStore(sql_engine, LocalKek.generate())
    here.when_erased(reader.forget)
    here.key_for(OTHER)  # this process reads the epoch (its first read)
    worker.apply(TOPIC, 0, 0, consented("c-1"))
    assert reader.current_facts(SUBJECT).consents
    erasing.key_for(NHS_NUMBER)
    erasing.shred([NHS_NUMBER], T0)
    assert reader.cached_subjects == 1  # this process has not read the epoch since
    here.key_for(OTHER)  # any call outside a batch reads the epoch first
    assert reader.cached_subjects == 0


def test_the_hub_ties_its_facts_cache_to_the_erasure_epoch(
    embedded_stores: ProjectionStores,
) -> None:
    stores = embedded_stores
    stores.sharing.apply(TOPIC, 0, 0, consented("c-1"))
    assert stores.sharing.current_facts(SUBJECT).consents
    assert stores.sharing.cached_subjects == 1
    stores.keys.key_for(NHS_NUMBER)
    stores.keys.shred([NHS_NUMBER], T0)
    assert stores.sharing.cached_subjects == 0


def test_a_withdrawal_the_api_folded_binds_another_process_at_once(
    stores: tuple[SharingStore, SharingStore, SharingStore],
) -> None:
    api, worker, reader = stores
    worker.apply(TOPIC, 0, 0, consented("c-1"))
    assert reader.current_facts(SUBJECT).consents
    assert not reader.current_facts(SUBJECT).withdrawals
    api.record_now(withdrawn())  # no position moves: the worker has not applied it yet
    assert reader.current_facts(SUBJECT).withdrawals
    assert api.current_facts(SUBJECT).withdrawals


def test_an_erasure_empties_what_was_cached(
    stores: tuple[SharingStore, SharingStore, SharingStore],
) -> None:
    _api, worker, reader = stores
    worker.apply(TOPIC, 0, 0, consented("c-1"))
    assert reader.current_facts(SUBJECT).consents
    worker.apply(TOPIC, 0, 1, _erasure())
    assert reader.current_facts(SUBJECT) == reader.facts_for(SUBJECT)
    assert not reader.current_facts(SUBJECT).consents


def test_a_person_s_other_keys_and_family_are_part_of_what_is_cached(
    stores: tuple[SharingStore, SharingStore, SharingStore],
) -> None:
    _api, worker, reader = stores
    worker.apply(TOPIC, 0, 0, consented("c-other", nhs_number=OTHER))
    assert not reader.current_facts(SUBJECT).consents
    assert reader.current_facts(SUBJECT, also=[OTHER]).consents
    assert not reader.current_facts(SUBJECT).consents


CHANGES: list[CaseEvent | Erasure] = [
    consented("c-1"),
    consented("c-2", at=T0 + timedelta(days=1)),
    consented("c-3", nhs_number=OTHER),
    withdrawn(at=T0 + timedelta(days=2)),
    withdrawn(consent_id="c-2", record_id="withdrawal-2", at=T0 + timedelta(days=3)),
    override("o-1"),
    override_ended("o-1"),
]
STEPS = st.lists(
    st.tuples(
        st.sampled_from(["worker", "api", "erase", "read"]),
        st.sampled_from(range(len(CHANGES))),
        st.sampled_from([(), (OTHER,)]),
        st.sampled_from([0, 1]),
    ),
    max_size=25,
)


@settings(max_examples=40, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(steps=STEPS)
def test_cached_facts_always_equal_the_store_s(
    stores: tuple[SharingStore, SharingStore, SharingStore],
    steps: list[tuple[str, int, tuple[str, ...], int]],
) -> None:
    """Any interleaving of worker applies (two partitions), the API's own folds, erasures and
    reads: what the reader gets from memory is what the store holds."""
    api, worker, reader = stores
    offsets = {
        partition: worker.next_offset(TOPIC, partition) or 0 for partition in (0, 1)
    }  # hypothesis runs examples on one database: carry on from where the last one stopped
    for kind, change, also, partition in steps:
        if kind == "worker":
            worker.apply(TOPIC, partition, offsets[partition], CHANGES[change])
            offsets[partition] += 1
        elif kind == "api" and isinstance(entry := CHANGES[change], CaseEvent):
            api.record_now(entry)
        elif kind == "erase":
            worker.apply(TOPIC, partition, offsets[partition], _erasure())
            offsets[partition] += 1
        assert reader.current_facts(SUBJECT, also=also) == reader.facts_for(SUBJECT, also=also)


def test_the_date_is_read_again_on_a_new_connection_after_one_breaks(sql_engine: Engine) -> None:
    """The date's connection is held outside the pool (no liveness ping): one that broke (a
    restarted server) is replaced at the next read, which still answers."""
    dates = DateReader(sql_engine, select(written_table.c.stamp))
    written_table.create(sql_engine, checkfirst=True)
    try:
        assert dates.read() is None  # no counter row yet
        dates._connection.close()  # broken behind its back
        assert dates.read() is None
        dates.close()
        assert dates.read() is None  # a new connection after close, too
    finally:
        dates.close()
        written_table.drop(sql_engine, checkfirst=True)
