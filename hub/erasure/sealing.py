"""Sealing case-events with the key of the person they are about (pure; ADR 0009).

The log is append-only and kept for years, so erasing a person cannot mean rewriting it.
Instead every case-event is encrypted with a data key that belongs to its subject; erasing the
person destroys the key, and every entry sealed with it becomes noise — in the topic, in
replicas and in backups alike.

AES-256-GCM (authenticated): a tampered or mis-keyed entry is refused rather than misread. The
associated data binds the fields left in clear (key id, event id, event type) to the ciphertext,
so an entry cannot be relabelled without detection.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Final

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.hashes import SHA256
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from pydantic import AwareDatetime

from hub.events import CaseEvent
from hub.payloads import FrozenModel

KEY_BYTES: Final = 32  # AES-256
NONCE_BYTES: Final = 12  # the GCM standard nonce; random nonces are safe far beyond our volumes


class UnsealError(ValueError):
    """A sealed entry that does not open with its key: tampered, truncated or mis-keyed."""


@dataclass(frozen=True)
class SubjectKey:
    """A person's data key; ``key_id`` is random so it says nothing about the person."""

    key_id: str
    secret: bytes

    def __repr__(self) -> str:  # never print key material into a log
        return f"SubjectKey(key_id={self.key_id!r}, secret=<{len(self.secret)} bytes>)"


@dataclass(frozen=True)
class Sealed:
    event_id: str
    event_type: str
    nonce: bytes
    ciphertext: bytes


class Erasure(FrozenModel):
    """A ``SubjectErased`` marker as projections see it: whose data to delete, and on whose word.

    ``subjects`` are every identifier key of the erased person (not only the one the destroyed
    key was made for), looked up in the key store's purge list while decoding; on a replay after
    the erasure completed it is empty (there is nothing left to delete).
    """

    key_id: str
    erasure_id: uuid.UUID
    erased_at: AwareDatetime
    requested_by: str
    reason: str
    subjects: tuple[str, ...] = ()


# What a projection of the case-event log is given: an event, an erasure marker, or None for an
# entry it must step over (sealed with a destroyed key, or dead-lettered).
LogEntry = CaseEvent | Erasure


def subjects_before_erasure(
    entries: Iterable[LogEntry | None], counted: Callable[[CaseEvent], bool] = lambda _: True
) -> set[str]:
    """The subject keys of the events among ``entries`` up to the first erasure, those that
    ``counted`` selects: what a store's batch reads at once before folding (an erasure may
    delete any row, so what follows it is read after it). An event without a readable key is
    left out, for its fold to refuse when its turn comes."""
    keys: set[str] = set()
    for entry in entries:
        if isinstance(entry, Erasure):
            break
        if entry is not None and counted(entry):
            try:
                keys.add(entry.subject_key())
            except ValueError:
                continue
    return keys


def new_key() -> SubjectKey:
    return SubjectKey(key_id=str(uuid.uuid4()), secret=AESGCM.generate_key(bit_length=256))


def _associated_data(key_id: str, event_id: str, event_type: str) -> bytes:
    return "\x1f".join((key_id, event_id, event_type)).encode("utf-8")


def seal(key: SubjectKey, event_id: str, event_type: str, plaintext: bytes) -> Sealed:
    nonce = os.urandom(NONCE_BYTES)
    ciphertext = AESGCM(key.secret).encrypt(
        nonce, plaintext, _associated_data(key.key_id, event_id, event_type)
    )
    return Sealed(event_id, event_type, nonce, ciphertext)


def unseal(key_id: str, secret: bytes, sealed: Sealed, cipher: AESGCM | None = None) -> bytes:
    """The entry's plaintext. ``cipher``: ``AESGCM(secret)`` made once by a caller opening many
    entries sealed with one key (a batch holds a family's entries, each family's under one key)."""
    if len(secret) != KEY_BYTES or len(sealed.nonce) != NONCE_BYTES:
        raise UnsealError(f"entry {sealed.event_id}: key or nonce has the wrong length")
    try:
        return (cipher or AESGCM(secret)).decrypt(
            sealed.nonce,
            sealed.ciphertext,
            _associated_data(key_id, sealed.event_id, sealed.event_type),
        )
    except InvalidTag as error:
        raise UnsealError(
            f"entry {sealed.event_id} does not open with key {key_id}: tampered or mis-keyed"
        ) from error


@dataclass(frozen=True)
class SealedRecord:
    """A record of another topic (a disclosure, quarantined input) sealed with the keys of
    every person it names (ADR 0020): destroying *any* of them makes it unreadable.

    ``key_ids`` empty means no person could be found in it (quarantined bytes with no NHS
    number): ``body`` is then the record in clear and ``nonce`` is empty.
    """

    record_id: str
    key_ids: tuple[str, ...]
    nonce: bytes
    body: bytes


def _record_key(secrets: Sequence[bytes]) -> bytes:
    """One AES key from all the subjects' keys (HKDF-SHA256 over their concatenation), so the
    record opens only while every one of them exists."""
    if len(secrets) == 1:
        return secrets[0]
    hkdf = HKDF(SHA256(), length=KEY_BYTES, salt=None, info=b"thinkfamilyhub sealed record")
    return hkdf.derive(b"".join(secrets))


def _record_data(record_id: str, key_ids: Sequence[str]) -> bytes:
    return "\x1f".join((record_id, *key_ids)).encode("utf-8")


def seal_record(keys: Sequence[SubjectKey], record_id: str, plaintext: bytes) -> SealedRecord:
    """``plaintext`` sealed with every key of ``keys`` (in clear when there are none)."""
    ordered = sorted(keys, key=lambda k: k.key_id)
    key_ids = tuple(k.key_id for k in ordered)
    if not ordered:
        return SealedRecord(record_id, (), b"", plaintext)
    nonce = os.urandom(NONCE_BYTES)
    secret = _record_key([k.secret for k in ordered])
    body = AESGCM(secret).encrypt(nonce, plaintext, _record_data(record_id, key_ids))
    return SealedRecord(record_id, key_ids, nonce, body)


def unseal_record(secrets: Sequence[bytes], sealed: SealedRecord) -> bytes:
    """The record's bytes, given the secrets of ``sealed.key_ids`` in that order."""
    if not sealed.key_ids:
        return sealed.body
    if len(secrets) != len(sealed.key_ids) or any(len(s) != KEY_BYTES for s in secrets):
        raise UnsealError(f"record {sealed.record_id}: wrong number or length of keys")
    if len(sealed.nonce) != NONCE_BYTES:
        raise UnsealError(f"record {sealed.record_id}: the nonce has the wrong length")
    try:
        return AESGCM(_record_key(secrets)).decrypt(
            sealed.nonce, sealed.body, _record_data(sealed.record_id, sealed.key_ids)
        )
    except InvalidTag as error:
        raise UnsealError(
            f"record {sealed.record_id} does not open with its keys: tampered or mis-keyed"
        ) from error


def erasure_marker(
    key_id: str, erasure_id: uuid.UUID, at: datetime, requested_by: str, reason: str
) -> Erasure:
    return Erasure(
        key_id=key_id, erasure_id=erasure_id, erased_at=at, requested_by=requested_by, reason=reason
    )
