"""Envelope encryption: what the hub stores secret is wrapped with a key-encryption key.

Subjects' data keys (ADR 0009) and outgoing-webhook signing secrets (ADR 0016) are stored
wrapped (AES-256-GCM, the record's id bound as associated data), never in clear: a copy of a
database alone decrypts nothing (ADR 0020). The key-encryption key (KEK) is outside every
database — ``HUB_KEY_ENCRYPTION_KEY`` (base64 of 32 bytes, from a secret manager), else the
file ``key-encryption-key`` under ``HUB_STATE_DIR``, created 0600 on first run.

:class:`KeyWrapper` is the port: a KMS or HSM (AWS KMS ``Encrypt``/``Decrypt``, Vault transit,
Azure Key Vault ``wrapKey``) is an adapter with these two methods, and nothing else changes.
"""

from __future__ import annotations

import base64
import binascii
import os
import uuid
from pathlib import Path
from typing import Final, Protocol

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from hub.storage.files import PRIVATE_FILE

KEK_BYTES: Final = 32
NONCE_BYTES: Final = 12
KEK_FILE: Final = "key-encryption-key"


class WrongKekError(ValueError):
    """A wrapped secret that does not open: another key-encryption key, or tampered."""


class KeyWrapper(Protocol):
    """Wraps and unwraps one secret, bound to the id of what it belongs to."""

    def wrap(self, secret: bytes, owner: str) -> bytes: ...

    def unwrap(self, wrapped: bytes, owner: str) -> bytes: ...


class LocalKek:
    """A :class:`KeyWrapper` with the key-encryption key in this process (AES-256-GCM)."""

    def __init__(self, kek: bytes) -> None:
        if len(kek) != KEK_BYTES:
            raise ValueError(f"a key-encryption key is {KEK_BYTES} bytes, not {len(kek)}")
        self._aead = AESGCM(kek)

    @classmethod
    def generate(cls) -> LocalKek:
        return cls(AESGCM.generate_key(bit_length=256))

    def wrap(self, secret: bytes, owner: str) -> bytes:
        nonce = os.urandom(NONCE_BYTES)
        return nonce + self._aead.encrypt(nonce, secret, owner.encode("utf-8"))

    def unwrap(self, wrapped: bytes, owner: str) -> bytes:
        try:
            return self._aead.decrypt(
                wrapped[:NONCE_BYTES], wrapped[NONCE_BYTES:], owner.encode("utf-8")
            )
        except (InvalidTag, ValueError) as error:
            raise WrongKekError(
                f"the secret of {owner} does not open with this key-encryption key: the hub is "
                "configured with another HUB_KEY_ENCRYPTION_KEY (or key-encryption-key file) "
                "than the one that wrapped it, or the row was tampered with"
            ) from error

    def __repr__(self) -> str:  # never print key material into a log
        return "LocalKek(<32 bytes>)"


def parse_kek(text: str) -> bytes:
    """The 32 bytes of a base64-written key-encryption key, or a ValueError saying what's wrong."""
    try:
        kek = base64.b64decode(text.strip(), validate=True)
    except binascii.Error as error:
        raise ValueError(f"the key-encryption key is not base64: {error}") from error
    if len(kek) != KEK_BYTES:
        raise ValueError(f"the key-encryption key is {len(kek)} bytes; it must be {KEK_BYTES}")
    return kek


def kek_file(state_dir: Path) -> bytes:
    """The KEK in ``state_dir/key-encryption-key``, made (0600) if there is none yet.

    Several processes start at once on first run (``hub run``): each writes a candidate to a
    file of its own and links it into place, which only the first can do; the others read
    the winner's, so they all end up with the same key.
    """
    path = state_dir / KEK_FILE
    if not path.exists():
        state_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        candidate = state_dir / f".{KEK_FILE}.{uuid.uuid4().hex}"
        descriptor = os.open(candidate, os.O_CREAT | os.O_WRONLY | os.O_TRUNC, PRIVATE_FILE)
        with os.fdopen(descriptor, "w") as stream:
            stream.write(base64.b64encode(AESGCM.generate_key(bit_length=256)).decode() + "\n")
        try:
            os.link(candidate, path)
        except FileExistsError:
            pass  # another process made it first: theirs is the key
        finally:
            candidate.unlink()
    return parse_kek(path.read_text(encoding="ascii"))
