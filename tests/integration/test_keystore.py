"""The key store on every SQL adapter: one live key per subject, shredding, purges (ADR 0009)."""

from __future__ import annotations

import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime

import pytest
from sqlalchemy import Engine

from hub.erasure.keystore import ErasureInProgressError, SubjectKeyStore, UnknownKeyError
from hub.erasure.sealing import erasure_marker
from hub.storage.kek import LocalKek

NOW = datetime(2026, 11, 24, 9, 0, tzinfo=UTC)


def test_keys_are_made_once_destroyed_for_good_and_purges_forgotten(sql_engine: Engine) -> None:
    keys = SubjectKeyStore(sql_engine, LocalKek.generate())
    with ThreadPoolExecutor(max_workers=4) as pool:
        made = {k.key_id for k in pool.map(lambda _: keys.key_for("9434765919"), range(12))}
    [key_id] = made
    other = keys.key_for("urn:council:355:person|P1")
    assert keys.secret_of(key_id) == keys.key_for("9434765919").secret

    destroyed = keys.shred(["9434765919", "urn:mft:mrn|M1"], NOW)
    assert destroyed == [key_id]
    assert keys.secret_of(key_id) is None
    assert keys.secret_of(other.key_id) == other.secret  # someone else's key is untouched
    assert keys.subjects_of(key_id) == ("9434765919", "urn:mft:mrn|M1")
    with pytest.raises(ErasureInProgressError):  # no new key until the projections purged
        keys.key_for("9434765919")

    marker = erasure_marker(key_id, uuid.uuid4(), NOW, "R0A/dpo-1", "test erasure")
    assert keys.apply("topic", 0, 1, marker)
    assert keys.subjects_of(key_id) == ()
    assert keys.key_for("9434765919").key_id != key_id  # a new key for a re-registration
    with pytest.raises(UnknownKeyError, match="no key"):  # never mistaken for "erased"
        keys.secret_of(str(uuid.uuid4()))
