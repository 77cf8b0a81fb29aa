"""Reading the quarantine and dead-letter topics into :class:`~hub.errorqueue.fold.Refusal`s.

Quarantined input is sealed with the keys of the people it names (ADR 0020): the decoder opens
it with the key store for the fold to see its channel, source and errors, and hands the store
the sealed bytes as they were on the topic — the store never holds the raw input in clear. A
record whose key was destroyed (its person erased) decodes as None: only the position moves.
Dead letters are in clear (their raw bytes are an entry of a sealed topic, sealed already).
"""

from __future__ import annotations

from collections.abc import Sequence

from hub.erasure.log import Keyring
from hub.errorqueue.fold import Refusal
from hub.ingest.records import quarantine_log
from hub.kafka.codec import DecodeError, quarantine_codec
from hub.quarantine import quarantine_record


class QuarantineLog:
    """``hub.quarantine.v1`` entries as refusals, a batch in one round of the key store."""

    def __init__(self, keys: Keyring, topic: str, registry_url: str | None = None) -> None:
        self._sealed = quarantine_log(keys, topic, registry_url)

    def decode(self, data: bytes) -> Refusal | None:
        [outcome] = self.decode_many([data])
        if isinstance(outcome, DecodeError):
            raise outcome
        return outcome

    def decode_many(self, values: Sequence[bytes]) -> list[Refusal | DecodeError | None]:
        decoded = self._sealed.decode_many(values)
        found: list[Refusal | DecodeError | None] = []
        for value, record in zip(values, decoded, strict=True):
            if record is None or isinstance(record, DecodeError):
                found.append(record)
            else:
                keys = self._sealed.key_ids_of(value)
                found.append(Refusal(record=record, sealed=value, key_ids=keys))
        return found


class DeadLetterLog:
    """``hub.dead-letter.v1`` entries as refusals."""

    def __init__(self, topic: str, registry_url: str | None = None) -> None:
        self._codec = quarantine_codec(topic, registry_url)
        self._topic = topic

    def decode(self, data: bytes) -> Refusal | None:
        """The dead letter; bytes that are not one are kept as an item of their own rather than
        dead-lettered again (onto the topic this reads: a loop)."""
        try:
            record = self._codec.decode(data)
        except DecodeError as error:
            record = quarantine_record(
                data,
                channel="case-event-stream",
                reason=f"{self._topic}: not a dead letter: {error}",
                errors=[(self._topic, str(error))],
            )
        return Refusal(record=record, sealed=data, dead_letter=True)
