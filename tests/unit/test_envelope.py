"""Envelope encryption of the key store: a copy of a database alone decrypts nothing (ADR 0020)."""

from __future__ import annotations

import base64
import stat
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from sqlalchemy import inspect, text

from hub.erasure.keystore import (
    LegacyKeyStoreError,
    SubjectKeyStore,
    migrate_legacy_keys,
    open_key_store,
)
from hub.settings import Settings
from hub.storage.engine import make_engine
from hub.storage.kek import LocalKek, WrongKekError, kek_file, parse_kek
from tests.builders import NHS_NUMBER

AT = "2026-01-01 00:00:00.000000"  # how SQLAlchemy writes a DateTime into SQLite


def test_a_wrapped_secret_opens_only_with_its_kek_and_for_its_owner() -> None:
    kek, secret = LocalKek.generate(), b"s" * 32
    wrapped = kek.wrap(secret, "subject key k1")
    assert secret not in wrapped
    assert kek.unwrap(wrapped, "subject key k1") == secret
    for kek_, owner, data in [
        (LocalKek.generate(), "subject key k1", wrapped),  # another KEK
        (kek, "subject key k2", wrapped),  # moved to another row
        (kek, "subject key k1", wrapped[:-1] + bytes([wrapped[-1] ^ 1])),  # tampered
        (kek, "subject key k1", b"short"),
    ]:
        with pytest.raises(WrongKekError, match="key-encryption key"):
            kek_.unwrap(data, owner)
    assert "32 bytes" in repr(kek)


@pytest.mark.parametrize(
    ("text_", "message"),
    [
        ("not base64 !", "not base64"),
        (base64.b64encode(b"k" * 16).decode(), "16 bytes"),
        ("", "0 bytes"),
    ],
)
def test_a_bad_kek_setting_says_what_is_wrong(text_: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_kek(text_)


def test_the_kek_file_is_made_once_0600_even_by_processes_starting_together(
    tmp_path: Path,
) -> None:
    with ThreadPoolExecutor(8) as pool:
        keks = set(pool.map(lambda _: kek_file(tmp_path), range(16)))
    assert len(keks) == 1
    assert stat.S_IMODE((tmp_path / "key-encryption-key").stat().st_mode) == 0o600
    assert sorted(p.name for p in tmp_path.iterdir()) == ["key-encryption-key"]


def test_a_copy_of_the_key_store_alone_opens_nothing(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'keys.sqlite3'}")
    keys = SubjectKeyStore(engine, LocalKek.generate())
    key = keys.key_for(NHS_NUMBER)
    assert keys.secret_of(key.key_id) == key.secret
    engine.dispose()
    assert key.secret not in b"".join(p.read_bytes() for p in tmp_path.iterdir())
    stolen = SubjectKeyStore(
        make_engine(f"sqlite:///{tmp_path / 'keys.sqlite3'}"), LocalKek.generate()
    )
    with pytest.raises(WrongKekError):
        stolen.secret_of(key.key_id)


def test_the_key_store_is_a_database_of_its_own(tmp_path: Path) -> None:
    settings = Settings(state_dir=tmp_path)
    assert settings.resolved_key_store_url() != settings.resolved_database_url()
    keys = open_key_store(settings)
    keys.key_for(NHS_NUMBER)
    assert not inspect(make_engine(settings.resolved_database_url())).has_table("subject_keys")
    same = Settings(state_dir=tmp_path, key_store_url=settings.resolved_database_url())
    with pytest.raises(ValueError, match="a database of its own"):
        open_key_store(same)


def test_an_old_state_dir_is_refused_until_its_clear_keys_are_migrated(tmp_path: Path) -> None:
    settings = Settings(state_dir=tmp_path, key_encryption_key=base64.b64encode(b"K" * 32).decode())
    old = make_engine(settings.resolved_database_url())
    secret, shredded = b"\x01" * 32, "k-gone"
    with old.begin() as connection:  # the tables as ADR 0009 left them
        connection.execute(
            text(
                "CREATE TABLE subject_keys (key_id VARCHAR(36) PRIMARY KEY, subject VARCHAR(300), "
                "secret BLOB, created_at DATETIME NOT NULL, shredded_at DATETIME)"
            )
        )
        connection.execute(
            text("CREATE TABLE erasure_purges (key_id VARCHAR(36), subject VARCHAR(300))")
        )
        connection.execute(
            text("INSERT INTO subject_keys VALUES ('k-live', :s, :x, :at, NULL)"),
            {"s": NHS_NUMBER, "x": secret, "at": AT},
        )
        connection.execute(
            text("INSERT INTO subject_keys VALUES (:k, NULL, NULL, :at, :at)"),
            {"k": shredded, "at": AT},
        )
        connection.execute(
            text("INSERT INTO erasure_purges VALUES (:k, 'urn:x|1')"), {"k": shredded}
        )
    old.dispose()
    with pytest.raises(LegacyKeyStoreError, match="hub keys migrate"):
        open_key_store(settings)
    assert migrate_legacy_keys(settings) == 2
    assert migrate_legacy_keys(settings) == 0  # once is enough; again does nothing
    keys = open_key_store(settings)
    assert keys.secret_of("k-live") == secret
    assert keys.key_for(NHS_NUMBER).key_id == "k-live"
    assert keys.secret_of(shredded) is None
    assert keys.subjects_of(shredded) == ("urn:x|1",)
    assert secret not in b"".join(p.read_bytes() for p in tmp_path.glob("*.sqlite3*"))
