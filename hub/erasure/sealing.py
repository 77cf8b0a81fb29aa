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
from dataclasses import dataclass
from datetime import datetime
from typing import Final

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from pydantic import AwareDatetime

from hub.events import CaseEvent, FrozenModel

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


def unseal(key_id: str, secret: bytes, sealed: Sealed) -> bytes:
    if len(secret) != KEY_BYTES or len(sealed.nonce) != NONCE_BYTES:
        raise UnsealError(f"entry {sealed.event_id}: key or nonce has the wrong length")
    try:
        return AESGCM(secret).decrypt(
            sealed.nonce,
            sealed.ciphertext,
            _associated_data(key_id, sealed.event_id, sealed.event_type),
        )
    except InvalidTag as error:
        raise UnsealError(
            f"entry {sealed.event_id} does not open with key {key_id}: tampered or mis-keyed"
        ) from error


def erasure_marker(
    key_id: str, erasure_id: uuid.UUID, at: datetime, requested_by: str, reason: str
) -> Erasure:
    return Erasure(
        key_id=key_id, erasure_id=erasure_id, erased_at=at, requested_by=requested_by, reason=reason
    )
