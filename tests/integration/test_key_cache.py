"""The key cache on every SQL adapter (ADR 0025): an erasure in another process reaches this
one's cache by the next batch, a batch costs one query, and new keys are made in bulk without
two processes ever sealing one person with two keys."""

from __future__ import annotations

import gc
import subprocess
import sys
import threading
import uuid
import weakref
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import Engine, event, func, select

from hub.erasure.handoff import OpenedEntries
from hub.erasure.key_cache import NO_CACHE
from hub.erasure.keystore import ErasureInProgressError, SubjectKeyStore, keys_table
from hub.erasure.log import BatchKeyring, CaseEventLog
from hub.erasure.sealing import erasure_marker
from hub.events import CaseEvent
from hub.kafka.codec import DecodeError
from hub.payloads import PersonIdentifier
from hub.storage.engine import make_engine
from hub.storage.kek import LocalKek
from tests.builders import NHS_NUMBER, missed

NOW = datetime(2026, 11, 24, 9, 0, tzinfo=UTC)
ERASURE_ID = uuid.UUID(int=25)
KEK = LocalKek.generate()


def about(system: str, value: int, appointment: str) -> CaseEvent:
    """A missed appointment of a person known by a local id (``system|value``)."""
    subject = (PersonIdentifier(system=system, value=str(value)),)
    return missed(appointment).model_copy(update={"subject": subject})


class Clock:
    """Time that moves only when the test says (the batch bound is a second)."""

    def __init__(self) -> None:
        self.now = 1_000.0

    def __call__(self) -> float:
        return self.now


def url_of(engine: Engine) -> str:
    return engine.url.render_as_string(hide_password=False)


def shred_in_another_process(engine: Engine, subject: str) -> None:
    """What the API does on an erasure, from a process of its own."""
    script = (
        "import sys; from datetime import UTC, datetime\n"
        "from hub.erasure.keystore import SubjectKeyStore\n"
        "from hub.storage.engine import make_engine\n"
        "from hub.storage.kek import LocalKek\n"
        "keys = SubjectKeyStore(make_engine(sys.argv[1]), LocalKek.generate())\n"
        "print(keys.shred([sys.argv[2]], datetime.now(UTC)))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script, url_of(engine), subject],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr


def records(
    sealed: list[tuple[bytes, bytes] | ErasureInProgressError],
) -> list[tuple[bytes, bytes]]:
    """The Kafka keys and values of a sealed batch in which nothing was refused."""
    found = [entry for entry in sealed if not isinstance(entry, ErasureInProgressError)]
    assert len(found) == len(sealed)
    return found


@contextmanager
def statements(engine: Engine) -> Iterator[list[str]]:
    """The SQL statements ``engine`` sends while the block runs."""
    sent: list[str] = []

    def record(*args: Any) -> None:
        sent.append(args[2])

    event.listen(engine, "before_cursor_execute", record)
    try:
        yield sent
    finally:
        event.remove(engine, "before_cursor_execute", record)


def test_a_key_destroyed_by_another_process_is_not_used_once_the_next_batch_begins(
    sql_engine: Engine,
) -> None:
    clock = Clock()
    keys = SubjectKeyStore(sql_engine, KEK, clock=clock)
    keys.create_schema()
    log = CaseEventLog(keys, "topic")
    with keys.begin_batch():
        _, before = log.encode(missed("APT-1"))
        assert log.decode(before) == missed("APT-1")
        shred_in_another_process(sql_engine, NHS_NUMBER)
        # The window ADR 0025 accepts: a batch trusts the epoch it read when it began (the
        # erasure's marker, behind this entry on the log, reaches the projections after it).
        assert log.decode(before) == missed("APT-1")
        clock.now += 1.0  # ...for a second at most, however long the batch lasts
        assert log.decode(before) is None
    with keys.begin_batch():  # the next batch: exactly as without a cache
        assert log.decode(before) is None
        assert log.decode_many([before]) == [None]
        with pytest.raises(ErasureInProgressError, match="send again later"):
            log.encode(missed("APT-2"))  # no new key while the projections purge her
        [refused] = log.encode_many([missed("APT-2")])
        assert isinstance(refused, ErasureInProgressError)
    [key_id] = keys.shred([NHS_NUMBER], NOW)  # her destroyed key, its marker not yet applied
    keys.apply("topic", 0, 9, erasure_marker(key_id, ERASURE_ID, NOW, "R0A/dpo-1", "Art. 17 req"))
    with keys.begin_batch():
        new_key_id, after = log.encode(missed("APT-3"))  # a re-registration: a new key
    assert new_key_id.decode() != key_id
    assert log.decode(after) == missed("APT-3")


def test_outside_a_batch_every_call_sees_an_erasure_at_once(sql_engine: Engine) -> None:
    """A request, an HL7 message, a disclosure before a read: exact, like before the cache."""
    keys = SubjectKeyStore(sql_engine, KEK)
    log = CaseEventLog(keys, "topic")
    _, before = log.encode(missed("APT-1"))
    elsewhere = make_engine(url_of(sql_engine))  # another process's connections
    try:
        SubjectKeyStore(elsewhere, KEK).shred([NHS_NUMBER], NOW)
    finally:
        elsewhere.dispose()
    assert log.decode(before) is None
    with pytest.raises(ErasureInProgressError):
        keys.key_for(NHS_NUMBER)


def test_a_batch_costs_one_query_once_its_keys_are_known(sql_engine: Engine) -> None:
    keys = SubjectKeyStore(sql_engine, KEK)
    keys.create_schema()
    assert isinstance(keys, BatchKeyring)
    log = CaseEventLog(keys, "topic")
    events = [about("urn:p", i % 50, f"APT-{i}") for i in range(200)]
    with statements(sql_engine) as sent:
        sealed = log.encode_many(events)  # 50 new people
    assert len(sent) == 3, sent  # the epoch; the 50 looked for; the 50 made in one insert
    values = [value for _, value in records(sealed)]
    with statements(sql_engine) as sent:
        resealed = records(log.encode_many(events[:100]))
        assert log.decode_many(values) == events
    assert len(sent) == 2, sent  # one epoch read per batch, nothing per event
    assert [k for k, _ in resealed] == [k for k, _ in records(sealed)][:100]  # the same keys
    cold = SubjectKeyStore(sql_engine, KEK)  # a worker just started
    cold.create_schema()
    with statements(sql_engine) as sent:
        assert CaseEventLog(cold, "topic").decode_many([*values, b"garbage"])[:-1] == events
    assert len(sent) == 2, sent  # the epoch, then the 50 secrets in one query
    with statements(sql_engine) as sent:
        for value in values[:10]:
            log.decode(value)
    assert len(sent) == 10  # outside a batch: the epoch, per call


def test_new_keys_made_in_bulk_by_racing_processes_are_one_per_person(sql_engine: Engine) -> None:
    subjects = [f"urn:new|{i}" for i in range(300)]
    engines = [make_engine(url_of(sql_engine)) for _ in range(3)]
    stores = [SubjectKeyStore(e, KEK) for e in engines]
    stores.append(SubjectKeyStore(sql_engine, KEK, cache=NO_CACHE))  # one key at a time
    stores[0].create_schema()
    start = threading.Barrier(len(stores) * 2)

    def make(worker: int) -> dict[str, str]:
        store = stores[worker % len(stores)]
        mine = subjects[worker * 37 :] + subjects[: worker * 37]  # overlapping, shifted
        start.wait()
        if store.cache.policy.enabled:
            return {s: k.key_id for s, k in store.keys_for(mine).items()}
        return {s: store.key_for(s).key_id for s in mine}

    try:
        with ThreadPoolExecutor(len(stores) * 2) as pool:
            seen = list(pool.map(make, range(len(stores) * 2)))
    finally:
        for engine in engines:
            engine.dispose()
    for subject in subjects:
        assert len({found[subject] for found in seen}) == 1, subject  # all seal with one key
    with sql_engine.connect() as connection:
        rows = connection.execute(select(func.count()).select_from(keys_table)).scalar()
    assert rows == len(subjects)  # the losers' keys were never stored


def test_one_person_being_erased_does_not_refuse_the_others(sql_engine: Engine) -> None:
    keys = SubjectKeyStore(sql_engine, KEK)
    keys.key_for(NHS_NUMBER)
    keys.shred([NHS_NUMBER], NOW)
    others = [f"urn:other|{i}" for i in range(5)]
    with pytest.raises(ErasureInProgressError) as refused:
        keys.keys_for([NHS_NUMBER, *others])
    assert refused.value.subjects == {NHS_NUMBER}
    assert NHS_NUMBER not in str(refused.value)  # the message is shown and logged
    with keys.begin_batch(), statements(sql_engine) as sent:
        assert set(keys.keys_for(others)) == set(others)  # made and cached all the same
    assert sent == []
    log = CaseEventLog(keys, "topic")
    sealed = log.encode_many([missed("APT-1"), about("urn:other", 1, "APT-2")])
    assert isinstance(sealed[0], ErasureInProgressError)
    assert not isinstance(sealed[1], Exception)
    assert log.decode(sealed[1][1]) == about("urn:other", 1, "APT-2")
    decoded = log.decode_many([b"garbage", sealed[1][1]])
    assert isinstance(decoded[0], DecodeError)  # dead-lettered alone; the batch goes on
    assert decoded[1] == about("urn:other", 1, "APT-2")


def test_a_batch_of_one_key_opens_each_entry_on_its_own_merits(sql_engine: Engine) -> None:
    """A batch opens every entry of a key with one AES-GCM context (ADR 0048): a tampered entry
    among them is still refused with its reason, the others open, and the key's destruction
    reaches the next batch as before."""
    keys = SubjectKeyStore(sql_engine, KEK)
    keys.create_schema()
    log = CaseEventLog(keys, "topic")
    events = [missed(f"APT-{i}") for i in range(3)]
    values = [value for _, value in records(log.encode_many(events))]
    tampered = values[1][:-1] + bytes([values[1][-1] ^ 1])  # the ciphertext's last byte
    first, refused, third = log.decode_many([values[0], tampered, values[2]])
    assert (first, third) == (events[0], events[2])
    assert isinstance(refused, DecodeError)
    assert "tampered or mis-keyed" in str(refused)
    keys.shred([NHS_NUMBER], NOW)
    assert log.decode_many(values) == [None, None, None]


def stages(keys: SubjectKeyStore) -> tuple[CaseEventLog, CaseEventLog, OpenedEntries]:
    """The worker's two readers of the same bytes, wired as ``stage_runners`` wires them."""
    opened = OpenedEntries.for_key_store(keys)
    person_index = CaseEventLog(keys, "case-events", keep_opened=opened)
    return person_index, CaseEventLog(keys, "family-events", take_opened=opened), opened


def test_the_family_reader_takes_what_the_person_index_opened(sql_engine: Engine) -> None:
    keys = SubjectKeyStore(sql_engine, KEK)
    keys.create_schema()
    person_index, family, opened = stages(keys)
    events = [about("urn:p", i, f"APT-{i}") for i in range(20)]
    values = [value for _, value in records(CaseEventLog(keys, "topic").encode_many(events))]
    assert person_index.decode_many(values) == events
    assert opened.held == 20
    cold = SubjectKeyStore(sql_engine, KEK)  # a reader in another process opens for itself
    with statements(sql_engine) as sent:
        assert CaseEventLog(cold, "family-events").decode_many(values[:5]) == events[:5]
    assert any("wrapped_secret" in statement for statement in sent), sent
    with statements(sql_engine) as sent:
        assert family.decode_many([*values[5:], b"garbage"])[:-1] == events[5:]
    assert len(sent) == 1, sent  # the batch's epoch read only: no secret read
    assert opened.held == 5  # each taken once; the rest left to the bound
    assert family.decode_many([*values[5:], *values[:5]]) == [*events[5:], *events[:5]]
    assert opened.held == 0


def test_an_erasure_between_the_two_readers_is_not_bypassed(sql_engine: Engine) -> None:
    """The person index opened her entry; she is erased in another process before the family
    reader's batch begins: that reader finds her key destroyed, as without the hand-over."""
    keys = SubjectKeyStore(sql_engine, KEK)
    keys.create_schema()
    person_index, family, opened = stages(keys)
    _, value = CaseEventLog(keys, "topic").encode(missed("APT-1"))
    with keys.begin_batch():
        assert person_index.decode_many([value]) == [missed("APT-1")]
    assert opened.held == 1
    shred_in_another_process(sql_engine, NHS_NUMBER)
    assert family.decode_many([value]) == [None]
    assert opened.held == 0  # and the plaintext forgotten with her keys


def test_an_erasure_in_this_process_forgets_every_opened_event(sql_engine: Engine) -> None:
    keys = SubjectKeyStore(sql_engine, KEK)
    keys.create_schema()
    person_index, family, opened = stages(keys)
    _, value = CaseEventLog(keys, "topic").encode(missed("APT-1"))
    assert person_index.decode_many([value]) == [missed("APT-1")]
    keys.shred([NHS_NUMBER], NOW)
    assert opened.held == 0
    assert family.decode_many([value]) == [None]


class Forgetful:
    """Something that keeps what names people, told of erasures by the key store."""

    def __init__(self) -> None:
        self.told = 0

    def forget(self) -> None:
        self.told += 1


def test_what_is_told_of_erasures_is_held_weakly(sql_engine: Engine) -> None:
    """A rebuild's store, once dropped, is neither told nor kept alive by the key store."""
    keys = SubjectKeyStore(sql_engine, KEK)
    keys.create_schema()
    kept, dropped = Forgetful(), Forgetful()
    keys.when_erased(kept.forget)
    keys.when_erased(dropped.forget)
    gone = weakref.ref(dropped)
    del dropped
    gc.collect()
    assert gone() is None
    keys.shred([NHS_NUMBER], NOW)
    assert kept.told == 1
    with pytest.raises(TypeError, match="bound method"):
        keys.when_erased(lambda: None)


def test_with_the_key_cache_off_each_reader_opens_for_itself(sql_engine: Engine) -> None:
    keys = SubjectKeyStore(sql_engine, KEK, cache=NO_CACHE)
    keys.create_schema()
    person_index, family, opened = stages(keys)
    _, value = CaseEventLog(keys, "topic").encode(missed("APT-1"))
    assert person_index.decode_many([value]) == [missed("APT-1")]
    assert opened.held == 0
    assert family.decode_many([value]) == [missed("APT-1")]
