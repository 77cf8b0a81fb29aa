"""The case-event topic's entries: sealed events and erasure markers (ADR 0009).

Writers seal each :class:`~hub.events.CaseEvent` (in Avro single-object encoding) with its
subject's key and frame a ``CaseEventLogEntry`` (``schemas/avro/case_event_log_entry.avsc``) in
the configured framing; the Kafka record key is the random key id, never an identifier. Readers
get back a :data:`~hub.erasure.sealing.LogEntry`, or None for an entry whose key was destroyed —
the one outcome that is neither data nor an error.

A batch (``encode_many``, ``decode_many``) is one batch of the key store (ADR 0025): one read of
the erasure epoch, the keys it does not yet hold read or made in bulk, and each entry's outcome
(an error included) in its place, so one refused or undecodable entry never fails the others.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from contextlib import AbstractContextManager, nullcontext, suppress
from typing import Any, Final, Protocol, runtime_checkable

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from hub.erasure.handoff import OpenedEntries
from hub.erasure.keystore import ErasureInProgressError, UnknownKeyError
from hub.erasure.sealing import (
    KEY_BYTES,
    Erasure,
    LogEntry,
    Sealed,
    SubjectKey,
    UnsealError,
    seal,
    unseal,
)
from hub.events import CaseEvent
from hub.kafka.codec import DecodeError, Framing, case_event_codec, framing_for

_NAMESPACE: Final = "org.thinkfamilyhub.events"
SEALED: Final = f"{_NAMESPACE}.SealedCaseEvent"
ERASED: Final = f"{_NAMESPACE}.SubjectErased"


class Keyring(Protocol):
    """What the log needs of a key store (:class:`hub.erasure.keystore.SubjectKeyStore`)."""

    def key_for(self, subject: str) -> SubjectKey: ...

    def secret_of(self, key_id: str) -> bytes | None: ...

    def subjects_of(self, key_id: str) -> tuple[str, ...]: ...


@runtime_checkable
class BatchKeyring(Keyring, Protocol):
    """A key store that can serve a batch with one epoch read and bulk queries (ADR 0025)."""

    def begin_batch(self) -> AbstractContextManager[object]: ...

    def keys_for(self, subjects: Iterable[str]) -> Mapping[str, SubjectKey]: ...

    def secrets_of(self, key_ids: Iterable[str]) -> Mapping[str, bytes | None]: ...


class CaseEventLog:
    """Encode case-events and erasure markers for the topic; decode its entries."""

    def __init__(
        self,
        keys: Keyring,
        topic: str,
        registry_url: str | None = None,
        *,
        keep_opened: OpenedEntries | None = None,
        take_opened: OpenedEntries | None = None,
    ) -> None:
        """``keep_opened``: where the events a batch opens are kept for another reader of the
        same bytes in this process; ``take_opened``: where this reader takes them from instead
        of opening them again (the worker's two stages, ADR 0049)."""
        self._keys = keys
        self._keep_opened = keep_opened
        self._take_opened = take_opened
        self._framing: Framing = framing_for("case_event_log_entry", topic, registry_url)
        # Inside the ciphertext the event is self-describing (single-object, by fingerprint),
        # whatever framing the topic uses.
        self._events = case_event_codec("sealed-case-event")

    def encode(self, event: CaseEvent) -> tuple[bytes, bytes]:
        """The Kafka key and value for ``event``, sealed with its subject's key."""
        return self._seal(event, self._keys.key_for(event.subject_key()))

    def _seal(self, event: CaseEvent, key: SubjectKey) -> tuple[bytes, bytes]:
        sealed = seal(key, str(event.event_id), event.event_type.value, self._events.encode(event))
        entry = {
            "event_id": sealed.event_id,
            "event_type": sealed.event_type,
            "nonce": sealed.nonce,
            "ciphertext": sealed.ciphertext,
        }
        return self._frame(key.key_id, SEALED, entry)

    def encode_erasure(self, marker: Erasure) -> tuple[bytes, bytes]:
        entry = {
            "erasure_id": str(marker.erasure_id),
            "erased_at": marker.erased_at,
            "requested_by": marker.requested_by,
            "reason": marker.reason,
        }
        return self._frame(marker.key_id, ERASED, entry)

    def encode_many(
        self, events: Sequence[CaseEvent]
    ) -> list[tuple[bytes, bytes] | ErasureInProgressError]:
        """:meth:`encode` of each event as one batch of the key store: one epoch read, the keys
        not cached read in one query, the new subjects' made in one insert. An event about a
        person being erased gets the error in its place; the others are sealed."""
        keys = self._keys
        with keys.begin_batch() if isinstance(keys, BatchKeyring) else nullcontext():
            found: Mapping[str, SubjectKey] = {}
            if isinstance(keys, BatchKeyring):
                # If someone is refused, the others' keys are made and cached all the same:
                # asked again one by one below, they cost no query.
                with suppress(ErasureInProgressError):
                    found = keys.keys_for({event.subject_key() for event in events})
            sealed: list[tuple[bytes, bytes] | ErasureInProgressError] = []
            for event in events:
                key = found.get(event.subject_key())
                try:
                    sealed.append(self._seal(event, key) if key else self.encode(event))
                except ErasureInProgressError as error:
                    sealed.append(error)
            return sealed

    def decode(self, value: bytes) -> LogEntry | None:
        """An event, an erasure marker, or None for an entry sealed with a destroyed key.

        Raises :class:`DecodeError` (so the runner dead-letters it) for bytes that are not an
        entry, an entry that does not open, or a key this key store never held.
        """
        return self._decode(*self._parse(value), {})

    def decode_many(self, values: Sequence[bytes]) -> list[LogEntry | DecodeError | None]:
        """:meth:`decode` of each value as one batch of the key store: one epoch read (the values
        are in hand, so it sees the erasure of any marker among them), the secrets not cached
        read in one query. What does not decode gets its :class:`DecodeError` in its place."""
        keys = self._keys
        batch = keys if isinstance(keys, BatchKeyring) else None
        with batch.begin_batch() if batch is not None else nullcontext():
            # Taken only after this batch's epoch read (a key store without batches reads none).
            taking = self._take_opened if batch is not None else None
            taken = taking.take(values) if taking is not None else {}
            kept = self._keep_opened
            generation = kept.generation() if kept is not None else None  # before keys are read
            parsed: list[tuple[str, str, dict[str, Any]] | DecodeError | CaseEvent] = []
            for index, value in enumerate(values):
                event = taken.get(index)
                if event is not None:
                    parsed.append(event)
                    continue
                try:
                    parsed.append(self._parse(value))
                except DecodeError as error:
                    parsed.append(error)
            wanted = {p[0] for p in parsed if isinstance(p, tuple) and p[1] != ERASED}
            secrets = batch.secrets_of(wanted) if batch is not None else {}
            # One AES-GCM context per key for the batch, made from the secrets read above (in
            # this batch's epoch): never kept past it, so a destroyed key opens nothing later.
            ciphers: dict[str, AESGCM] = {}
            decoded: list[LogEntry | DecodeError | None] = []
            for entry in parsed:
                if not isinstance(entry, tuple):  # refused, or taken already opened
                    decoded.append(entry)
                    continue
                try:
                    decoded.append(self._decode(*entry, secrets, ciphers))
                except DecodeError as error:
                    decoded.append(error)
            if kept is not None:
                kept.keep(
                    generation,
                    (
                        (value, entry)
                        for value, entry in zip(values, decoded, strict=True)
                        if isinstance(entry, CaseEvent)
                    ),
                )
            return decoded

    def key_id_of(self, value: bytes) -> str:
        """The id of the key an entry is sealed with: its Kafka key on the case-event topic."""
        return self._parse(value)[0]

    def _parse(self, value: bytes) -> tuple[str, str, dict[str, Any]]:
        """The key id, the entry's record name and its fields (not yet opened)."""
        datum = self._framing.decode(value)
        try:
            key_id: str = datum["key_id"]
            name, body = datum["entry"]
        except (KeyError, TypeError, ValueError) as error:
            raise DecodeError(f"not a case-event log entry: {error}") from error
        return key_id, name, body

    def _decode(
        self,
        key_id: str,
        name: str,
        body: dict[str, Any],
        secrets: Mapping[str, bytes | None],
        ciphers: dict[str, AESGCM] | None = None,
    ) -> LogEntry | None:
        """The parsed entry opened with ``secrets[key_id]``, else the key store's secret;
        ``ciphers``, a batch's AES-GCM contexts by key id, made and kept there as needed."""
        if name == ERASED:
            return _erasure(key_id, body, self._keys.subjects_of(key_id))
        try:
            secret = secrets[key_id] if key_id in secrets else self._keys.secret_of(key_id)
        except UnknownKeyError as error:
            raise DecodeError(str(error)) from error
        if secret is None:
            return None
        cipher = None
        if ciphers is not None and len(secret) == KEY_BYTES:
            cipher = ciphers.get(key_id)
            if cipher is None:
                cipher = ciphers[key_id] = AESGCM(secret)
        return self._open(key_id, body, secret, cipher)

    def _open(
        self, key_id: str, body: dict[str, Any], secret: bytes, cipher: AESGCM | None = None
    ) -> CaseEvent:
        sealed = Sealed(body["event_id"], body["event_type"], body["nonce"], body["ciphertext"])
        try:
            event = self._events.decode(unseal(key_id, secret, sealed, cipher))
        except UnsealError as error:
            raise DecodeError(str(error)) from error
        if str(event.event_id) != sealed.event_id:
            raise DecodeError(f"entry {sealed.event_id} holds a different event {event.event_id}")
        return event

    def _frame(self, key_id: str, name: str, entry: dict[str, Any]) -> tuple[bytes, bytes]:
        return key_id.encode("ascii"), self._framing.encode(
            {"key_id": key_id, "entry": (name, entry)}
        )


def _erasure(key_id: str, body: dict[str, Any], subjects: tuple[str, ...]) -> Erasure:
    try:
        return Erasure.model_validate({**body, "key_id": key_id, "subjects": subjects})
    except ValueError as error:
        raise DecodeError(f"erasure marker breaks the contract: {error}") from error
