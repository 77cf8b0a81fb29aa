"""Where connectors put what they accepted or refused: the case-event and quarantine topics.

Keys decide partitions, and partitions decide order: every event about one identifier is sealed
with that identifier's data key and carries the key's random id as its Kafka key (ADR 0009), so
the projections see one person's events in order and no identifier is ever in clear on the log.
Disclosures and quarantined input are sealed with the keys of the people they name (ADR 0020);
dead letters are entries of those topics, sealed already, and are written as they are.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from hub.disclosures import Disclosure
from hub.erasure.keystore import ErasureInProgressError
from hub.erasure.log import CaseEventLog, Keyring
from hub.erasure.sealing import Erasure
from hub.events import CaseEvent
from hub.ingest.record_limits import RecordTooLargeError, check_fits, in_parts
from hub.ingest.records import disclosure_log, named_in, quarantine_log
from hub.kafka.codec import quarantine_codec
from hub.kafka.publisher import Delivery, KafkaPublisher, Record
from hub.quarantine import QuarantineRecord
from hub.settings import Settings
from hub.sharing.facts import SHARING_PAYLOADS
from hub.sharing.store import SharingStore

# One event's outcome in a batch: where the broker stored it, or why it was not produced — too
# large for any Kafka record (for good), or about a person being erased (send again later).
Published = Delivery | RecordTooLargeError | ErasureInProgressError


class CaseEventSink:
    """Durable publication of accepted events and refused input.

    ``keys`` is the key store the events are sealed with: the one the process's erasure shreds,
    given by the composition root (:mod:`hub.bootstrap`), never one the sink opens for itself.
    """

    def __init__(self, publisher: KafkaPublisher, settings: Settings, keys: Keyring) -> None:
        self._publisher = publisher
        self._events_topic = settings.case_events_topic
        self._quarantine_topic = settings.quarantine_topic
        self._disclosures_topic = settings.disclosures_topic
        registry = settings.schema_registry_url
        self._log = CaseEventLog(keys, settings.case_events_topic, registry)
        self._refused = quarantine_log(keys, settings.quarantine_topic, registry)
        self._disclosures = disclosure_log(keys, settings.disclosures_topic, registry)
        self._dead = quarantine_codec(settings.dead_letter_topic, registry)
        self._sharing: SharingStore | None = None

    def applying_sharing_facts(self, sharing: SharingStore) -> CaseEventSink:
        """From now on, fold each sharing fact into ``sharing`` once the broker acknowledged it.

        Every path that records a consent, withdrawal or override (the sharing API, a partner's
        signed webhook or CSV upload, an extract run) publishes through its process's sink, so
        here, once, a withdrawal binds the very next read and the next push (SSE, outgoing
        webhooks and partner topics read the same store) rather than when the worker catches
        up. The worker folds the same event later; folding is idempotent.
        """
        self._sharing = sharing
        return self

    async def publish(self, event: CaseEvent) -> Delivery:
        """Raises :class:`~hub.ingest.record_limits.RecordTooLargeError` before producing anything
        when the entry can never be one Kafka record: a permanent refusal, not a retry."""
        # The key lookup is SQL: off the event loop, so a slow database never stalls a listener.
        key, value = await asyncio.to_thread(self._log.encode, event)
        check_fits(key, value, _headers(event))
        delivery = await self._publisher.publish(self._events_topic, key, value, _headers(event))
        if self._sharing is not None and isinstance(event.payload, SHARING_PAYLOADS):
            await asyncio.to_thread(self._sharing.record_now, event)
        return delivery

    async def publish_many(self, events: Sequence[CaseEvent]) -> list[Published]:
        """Publish a batch: sealed in one thread hop and one batch of the key store
        (:meth:`~hub.erasure.log.CaseEventLog.encode_many`), produced together and every
        acknowledgement awaited at once (:meth:`~hub.kafka.publisher.KafkaPublisher.publish_many`).

        Returns each event's outcome in its place: its :class:`Delivery`, or the refusal that kept
        it from being produced — :class:`~hub.ingest.record_limits.RecordTooLargeError` (it can
        never be one record) or :class:`~hub.erasure.keystore.ErasureInProgressError` — so the
        caller refuses that event's input alone. Raises :class:`PublishError` when the broker
        did not confirm every record produced: nothing of the batch may then be acknowledged to
        a sender, who sends it all again (ids are deterministic; records confirmed before the
        failure stay written and the projections absorb the repeat).

        Sharing facts are folded into the store (:meth:`applying_sharing_facts`) once every
        acknowledgement is in, before this returns: as with :meth:`publish`, a withdrawal binds
        the very next read. Order per Kafka key is the batch's order (one producer, idempotent).
        """
        if not events:
            return []
        # The key store is SQL: the whole batch off the event loop in one hop, one epoch read.
        sealed = await asyncio.to_thread(self._log.encode_many, events)
        outcomes: list[Published | None] = []
        records: list[Record] = []
        produced: list[int] = []  # the batch positions of ``records``
        for at, (event, entry) in enumerate(zip(events, sealed, strict=True)):
            if isinstance(entry, ErasureInProgressError):
                outcomes.append(entry)
                continue
            key, value = entry
            headers = _headers(event)
            try:
                check_fits(key, value, headers)
            except RecordTooLargeError as error:  # this event's refusal, not the batch's
                outcomes.append(error)
                continue
            outcomes.append(None)
            records.append((key, value, headers))
            produced.append(at)
        if records:
            deliveries = await self._publisher.publish_many(self._events_topic, records)
            for at, delivery in zip(produced, deliveries, strict=True):
                outcomes[at] = delivery
        facts = [events[at] for at in produced if isinstance(events[at].payload, SHARING_PAYLOADS)]
        if self._sharing is not None and facts:
            await asyncio.to_thread(_record_all, self._sharing, facts)
        done: list[Published] = []
        for outcome in outcomes:
            assert outcome is not None  # every event is refused or has its delivery
            done.append(outcome)
        return done

    async def first_too_large(self, events: Sequence[CaseEvent]) -> RecordTooLargeError | None:
        """The refusal of the first event that can never be one Kafka record, else None,
        writing nothing: a FHIR transaction checks every entry before any is produced. One
        thread hop and one batch of the key store for all of them."""
        sealed = await asyncio.to_thread(self._log.encode_many, events)
        for event, entry in zip(events, sealed, strict=True):
            if isinstance(entry, ErasureInProgressError):
                continue  # not a matter of size: publishing it says "send again later"
            try:
                check_fits(*entry, _headers(event))
            except RecordTooLargeError as error:
                return error
        return None

    def publish_sync(self, event: CaseEvent) -> Delivery:
        key, value = self._log.encode(event)
        check_fits(key, value, _headers(event))
        delivery = self._publisher.publish_sync(self._events_topic, key, value, _headers(event))
        if self._sharing is not None:
            self._sharing.record_now(event)
        return delivery

    async def publish_erasure(self, marker: Erasure) -> Delivery:
        """The marker goes to the partition of the destroyed key's events, after all of them."""
        key, value = self._log.encode_erasure(marker)
        return await self._publisher.publish(
            self._events_topic, key, value, {"hub-event-type": b"SUBJECT_ERASED"}
        )

    async def quarantine(self, record: QuarantineRecord) -> Delivery:
        """Refused input, sealed with the keys of the people it names (ADR 0020); input too
        large for one record goes in parts (:func:`~hub.ingest.record_limits.in_parts`), each sealed
        with the keys of everyone the whole input names. The last part's delivery."""
        subjects = named_in(record)
        delivery: Delivery | None = None
        for part in in_parts(record):
            key, value = await asyncio.to_thread(self._refused.encode, part, subjects)
            delivery = await self._publisher.publish(
                self._quarantine_topic, key, value, {"hub-channel": record.channel.encode()}
            )
        assert delivery is not None  # in_parts returns at least the record itself
        return delivery

    async def dead_letter(self, record: QuarantineRecord, topic: str) -> Delivery:
        """An entry a projection could not take; its raw bytes are an entry of a sealed topic."""
        return await self._publisher.publish(
            topic,
            str(record.quarantine_id).encode(),
            self._dead.encode(record),
            {"hub-channel": record.channel.encode()},
        )

    async def republish(
        self, topic: str, key: bytes, value: bytes, headers: dict[str, bytes]
    ) -> Delivery:
        """An entry of a sealed topic written again as it is (a dead letter replayed from the
        error queue, ADR 0030): sealed already, so nothing here opens it."""
        return await self._publisher.publish(topic, key, value, headers)

    async def disclose(self, disclosure: Disclosure) -> Delivery:
        """Record a disclosure durably; the caller releases the data only after this returns."""
        key, value = await asyncio.to_thread(self._disclosures.encode, disclosure)
        return await self._publisher.publish(
            self._disclosures_topic, key, value, {"hub-channel": disclosure.channel.value.encode()}
        )


def _record_all(sharing: SharingStore, facts: Sequence[CaseEvent]) -> None:
    """Fold acknowledged sharing facts in their batch order (a withdrawal after its consent)."""
    for fact in facts:
        sharing.record_now(fact)


def _headers(event: CaseEvent) -> dict[str, bytes]:
    """Routing hints readable without decoding Avro (tools, ACL-free debugging)."""
    return {
        "hub-event-type": event.event_type.value.encode(),
        "hub-event-id": str(event.event_id).encode(),
    }
