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
from sqlalchemy import Engine, event
from sqlalchemy.engine import Connection

from hub.erasure.sealing import Erasure
from hub.events import CaseEvent
from hub.sharing.facts import SharingFacts
from hub.sharing.policy import Subject
from hub.sharing.store import SharingStore, written_table
from tests.builders import NHS_NUMBER, T0, consented, override, override_ended, withdrawn

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
    worker.apply(TOPIC, 0, 1, withdrawn())  # the worker moves the position: read again
    after, queries = _facts_queries(reader.engine, lambda: reader.current_facts(SUBJECT))
    assert (after, queries) == (reader.facts_for(SUBJECT), 1)
    assert after.withdrawals


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
