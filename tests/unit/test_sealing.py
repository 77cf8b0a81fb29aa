"""Crypto-shredding: sealed entries open only with their subject's live key (ADR 0009)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings

from hub.erasure.keystore import SubjectKeyStore
from hub.erasure.log import CaseEventLog
from hub.erasure.sealing import Erasure, UnsealError, erasure_marker, new_key, seal, unseal
from hub.events import CaseEvent
from hub.kafka.codec import DecodeError
from hub.storage.engine import make_engine
from hub.storage.kek import LocalKek
from tests.builders import NHS_NUMBER, missed, registered
from tests.strategies import case_events

NOW = datetime(2026, 11, 24, 9, 0, tzinfo=UTC)


@pytest.fixture
def keys(tmp_path: Path) -> Iterator[SubjectKeyStore]:
    engine = make_engine(f"sqlite:///{tmp_path / 'keys.sqlite3'}")
    store = SubjectKeyStore(engine, LocalKek.generate())
    store.create_schema()
    yield store
    engine.dispose()


def test_a_sealed_entry_opens_only_with_its_key_and_its_labels() -> None:
    key = new_key()
    sealed = seal(key, "event-1", "APPOINTMENT_MISSED", b"plaintext")
    assert unseal(key.key_id, key.secret, sealed) == b"plaintext"
    assert b"plaintext" not in sealed.ciphertext
    with pytest.raises(UnsealError, match="tampered or mis-keyed"):
        unseal(key.key_id, new_key().secret, sealed)
    with pytest.raises(UnsealError):  # relabelled: the clear fields are bound to the ciphertext
        unseal(key.key_id, key.secret, replace(sealed, event_type="APPOINTMENT_ATTENDED"))
    with pytest.raises(UnsealError):
        unseal(str(uuid.uuid4()), key.secret, sealed)
    flipped = bytes([sealed.ciphertext[0] ^ 1]) + sealed.ciphertext[1:]
    with pytest.raises(UnsealError):
        unseal(key.key_id, key.secret, replace(sealed, ciphertext=flipped))
    assert key.secret.hex() not in repr(key)


def test_the_log_keeps_identifiers_out_of_keys_and_bytes(keys: SubjectKeyStore) -> None:
    log = CaseEventLog(keys, "topic")
    event = registered()
    kafka_key, value = log.encode(event)
    assert kafka_key == keys.key_for(NHS_NUMBER).key_id.encode()
    for secret in (NHS_NUMBER, "Amy", "Example"):
        assert secret.encode() not in value
    assert log.decode(value) == event


def test_after_shredding_old_entries_are_noise_and_new_ones_get_a_new_key(
    keys: SubjectKeyStore,
) -> None:
    log = CaseEventLog(keys, "topic")
    old_key, old = log.encode(missed("APT-1"))
    [shredded] = keys.shred([NHS_NUMBER], NOW)
    assert shredded.encode() == old_key
    assert log.decode(old) is None
    keys.apply("topic", 0, 1, erasure_marker(shredded, uuid.uuid4(), NOW, "RM3/dpo-1", "Art. 17"))
    new_key_id, new = log.encode(missed("APT-2"))  # once the erasure is applied: a new key
    assert new_key_id != old_key
    assert log.decode(new) == missed("APT-2")
    assert keys.shred([NHS_NUMBER], NOW) == [new_key_id.decode()]


def test_a_marker_names_its_subjects_until_the_worker_has_applied_it(
    keys: SubjectKeyStore,
) -> None:
    log = CaseEventLog(keys, "topic")
    log.encode(missed("APT-1"))
    [key_id] = keys.shred([NHS_NUMBER], NOW)
    marker = erasure_marker(key_id, uuid.uuid4(), NOW, "RM3/dpo-1", "Art. 17 request R-1")
    _, value = log.encode_erasure(marker)
    decoded = log.decode(value)
    assert isinstance(decoded, Erasure)
    assert decoded == marker.model_copy(update={"subjects": (NHS_NUMBER,)})
    assert keys.apply("topic", 0, 7, decoded)
    assert log.decode(value) == marker  # a replay: nothing left to name or delete


def test_entries_that_do_not_open_are_decode_errors(keys: SubjectKeyStore) -> None:
    log = CaseEventLog(keys, "topic")
    _, value = log.encode(missed("APT-1"))
    with pytest.raises(DecodeError, match="no key"):
        CaseEventLog(
            SubjectKeyStore(make_engine("sqlite://"), LocalKek.generate()), "topic"
        ).decode(value)
    with pytest.raises(DecodeError, match="tampered or mis-keyed"):
        log.decode(value[:-1] + bytes([value[-1] ^ 1]))
    with pytest.raises(DecodeError):
        log.decode(b"garbage")


def test_concurrent_first_events_about_one_person_share_one_key(tmp_path: Path) -> None:
    keys = SubjectKeyStore(
        make_engine(f"sqlite:///{tmp_path / 'fresh.sqlite3'}"), LocalKek.generate()
    )  # no schema yet
    with ThreadPoolExecutor(max_workers=8) as pool:
        found = set(pool.map(lambda _: keys.key_for("urn:new|P1").key_id, range(32)))
    assert len(found) == 1


@settings(max_examples=60, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(event=case_events())
def test_every_event_round_trips_through_the_sealed_log(
    keys: SubjectKeyStore, event: CaseEvent
) -> None:
    log = CaseEventLog(keys, "topic")
    _, value = log.encode(event)
    assert log.decode(value) == event
