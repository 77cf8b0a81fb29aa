"""The disclosure and quarantine topics, sealed per person like the case-events (ADR 0020).

ADR 0009 sealed the case-event log and left two topics in clear: the disclosure log (the NHS
number was its Kafka key and in its value) and quarantine (raw input as received). Both now
carry :class:`~hub.erasure.sealing.SealedRecord` values (``schemas/avro/sealed_record.avsc``):
the record's Avro single-object bytes sealed with the data key of every person it names — a
disclosure its subject, quarantined input every valid NHS number found in it (raw bytes, reason
and error messages). Erasing any of them makes the record unreadable; the Kafka key is the
(first) key id, so one person's records stay in order, or the record id — never an
identifier. Input in which no NHS number can be found is kept in clear for the quarantine
topic's retention (``HUB_QUARANTINE_RETENTION_DAYS``): the hub cannot tell whom
it is about, so no erasure could find it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from contextlib import nullcontext
from typing import Generic, TypeVar

from pydantic import BaseModel

from hub.disclosures import Disclosure
from hub.erasure.keystore import UnknownKeyError
from hub.erasure.log import BatchKeyring, Keyring
from hub.erasure.sealing import SealedRecord, UnsealError, seal_record, unseal_record
from hub.kafka.codec import DecodeError, Framing, ModelCodec, disclosure_codec, framing_for
from hub.kafka.codec import quarantine_codec as clear_quarantine_codec
from hub.nhs_number import nhs_numbers_in
from hub.quarantine import QuarantineRecord

M = TypeVar("M", bound=BaseModel)


class SealedTopic(Generic[M]):
    """Encode a topic's records sealed with their subjects' keys; decode them, or None once a
    key was destroyed (the record is erased)."""

    def __init__(
        self,
        keys: Keyring,
        inner: ModelCodec[M],
        framing: Framing,
        *,
        record_id: Callable[[M], str],
        subjects: Callable[[M], Iterable[str]],
    ) -> None:
        self._keys, self._inner, self._framing = keys, inner, framing
        self._record_id, self._subjects = record_id, subjects

    def encode(self, record: M, subjects: Iterable[str] | None = None) -> tuple[bytes, bytes]:
        """The Kafka key (the first key id, else the record id) and value; reads (or makes) the
        subjects' keys: SQL.

        ``subjects`` overrides the record's own (a part of a larger input is sealed with the
        keys of everyone the whole input names)."""
        named = set(self._subjects(record) if subjects is None else subjects)
        keys = {key.key_id: key for key in map(self._keys.key_for, named)}
        sealed = seal_record(
            list(keys.values()), self._record_id(record), self._inner.encode(record)
        )
        datum = {
            "record_id": sealed.record_id,
            "key_ids": list(sealed.key_ids),
            "nonce": sealed.nonce,
            "body": sealed.body,
        }
        # One person's records on one partition, in order; input naming nobody by its id.
        kafka_key = sealed.key_ids[0] if sealed.key_ids else sealed.record_id
        return kafka_key.encode(), self._framing.encode(datum)

    def decode(self, value: bytes) -> M | None:
        """The record; None when one of its keys was destroyed; :class:`DecodeError` for bytes
        that are not a sealed record, do not open, or name a key this key store never held."""
        return self._open(self._parse(value), {})

    def decode_many(self, values: Sequence[bytes]) -> list[M | DecodeError | None]:
        """:meth:`decode` of each value as one batch of the key store (ADR 0025): one epoch read,
        the secrets not cached read in one query; what does not decode gets its
        :class:`DecodeError` in its place."""
        keys = self._keys
        with keys.begin_batch() if isinstance(keys, BatchKeyring) else nullcontext():
            parsed: list[SealedRecord | DecodeError] = []
            for value in values:
                try:
                    parsed.append(self._parse(value))
                except DecodeError as error:
                    parsed.append(error)
            wanted = {k for p in parsed if isinstance(p, SealedRecord) for k in p.key_ids}
            secrets = keys.secrets_of(wanted) if isinstance(keys, BatchKeyring) else {}
            decoded: list[M | DecodeError | None] = []
            for sealed in parsed:
                if isinstance(sealed, DecodeError):
                    decoded.append(sealed)
                    continue
                try:
                    decoded.append(self._open(sealed, secrets))
                except DecodeError as error:
                    decoded.append(error)
            return decoded

    def key_ids_of(self, value: bytes) -> tuple[str, ...]:
        """The ids of the keys a record is sealed with (random ids: they name nobody)."""
        return self._parse(value).key_ids

    def _parse(self, value: bytes) -> SealedRecord:
        datum = self._framing.decode(value)
        try:
            return SealedRecord(
                datum["record_id"], tuple(datum["key_ids"]), datum["nonce"], datum["body"]
            )
        except (KeyError, TypeError) as error:
            raise DecodeError(f"not a sealed record: {error}") from error

    def _open(self, sealed: SealedRecord, secrets: Mapping[str, bytes | None]) -> M | None:
        """The record opened with ``secrets`` (else the key store's) of each of its keys."""
        opened: list[bytes] = []
        for key_id in sealed.key_ids:
            try:
                secret = secrets[key_id] if key_id in secrets else self._keys.secret_of(key_id)
            except UnknownKeyError as error:
                raise DecodeError(str(error)) from error
            if secret is None:
                return None
            opened.append(secret)
        try:
            return self._inner.decode(unseal_record(opened, sealed))
        except UnsealError as error:
            raise DecodeError(str(error)) from error


def disclosure_log(
    keys: Keyring, topic: str, registry_url: str | None = None
) -> SealedTopic[Disclosure]:
    """``hub.disclosures.v1``: each disclosure sealed with its subject's key."""
    return SealedTopic(
        keys,
        disclosure_codec(f"sealed-{topic}"),  # inside: single-object, whatever the framing
        framing_for("sealed_record", topic, registry_url),
        record_id=lambda d: str(d.disclosure_id),
        subjects=lambda d: (d.subject_key,),
    )


def named_in(record: QuarantineRecord) -> tuple[str, ...]:
    """The NHS numbers quarantined input names: in the raw bytes, the reason or the errors."""
    texts = [record.reason, *(f"{e.location}\n{e.message}" for e in record.errors)]
    return nhs_numbers_in(b"\n".join([record.raw, *(t.encode() for t in texts)]))


def quarantine_log(
    keys: Keyring, topic: str, registry_url: str | None = None
) -> SealedTopic[QuarantineRecord]:
    """``hub.quarantine.v1``: refused input sealed with the keys of the people it names."""
    return SealedTopic(
        keys,
        clear_quarantine_codec(f"sealed-{topic}"),
        framing_for("sealed_record", topic, registry_url),
        record_id=lambda r: str(r.quarantine_id),
        subjects=named_in,
    )
