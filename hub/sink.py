"""Where connectors put what they accepted or refused: the case-event and quarantine topics.

Keys decide partitions, and partitions decide order: every event about one identifier is sealed
with that identifier's data key and carries the key's random id as its Kafka key (ADR 0009), so
the projections see one person's events in order and no identifier is ever in clear on the log.
"""

from __future__ import annotations

import asyncio

from hub.avro_codec import disclosure_codec, quarantine_codec
from hub.erasure.keystore import SubjectKeyStore
from hub.erasure.log import CaseEventLog, Keyring
from hub.erasure.sealing import Erasure
from hub.events import CaseEvent
from hub.projections.store import make_engine
from hub.publisher import Delivery, KafkaPublisher
from hub.quarantine import QuarantineRecord
from hub.settings import Settings
from hub.sharing.disclosure import Disclosure
from hub.sharing.facts import SHARING_PAYLOADS
from hub.sharing.store import SharingStore


class CaseEventSink:
    """Durable publication of accepted events and refused input."""

    def __init__(
        self, publisher: KafkaPublisher, settings: Settings, keys: Keyring | None = None
    ) -> None:
        self._publisher = publisher
        self._events_topic = settings.case_events_topic
        self._quarantine_topic = settings.quarantine_topic
        self._log = CaseEventLog(
            keys or SubjectKeyStore(make_engine(settings.resolved_database_url())),
            settings.case_events_topic,
            settings.schema_registry_url,
        )
        self._refused = quarantine_codec(settings.quarantine_topic, settings.schema_registry_url)
        self._disclosures_topic = settings.disclosures_topic
        self._disclosures = disclosure_codec(
            settings.disclosures_topic, settings.schema_registry_url
        )
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
        # The key lookup is SQL: off the event loop, so a slow database never stalls a listener.
        key, value = await asyncio.to_thread(self._log.encode, event)
        delivery = await self._publisher.publish(self._events_topic, key, value, _headers(event))
        if self._sharing is not None and isinstance(event.payload, SHARING_PAYLOADS):
            await asyncio.to_thread(self._sharing.record_now, event)
        return delivery

    def publish_sync(self, event: CaseEvent) -> Delivery:
        key, value = self._log.encode(event)
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

    async def quarantine(self, record: QuarantineRecord, *, topic: str | None = None) -> Delivery:
        return await self._publisher.publish(
            topic or self._quarantine_topic,
            str(record.quarantine_id).encode(),
            self._refused.encode(record),
            {"hub-channel": record.channel.encode()},
        )

    async def disclose(self, disclosure: Disclosure) -> Delivery:
        """Record a disclosure durably; the caller releases the data only after this returns."""
        return await self._publisher.publish(
            self._disclosures_topic,
            disclosure.subject_key.encode(),
            self._disclosures.encode(disclosure),
            {"hub-channel": disclosure.channel.value.encode()},
        )


def _headers(event: CaseEvent) -> dict[str, bytes]:
    """Routing hints readable without decoding Avro (tools, ACL-free debugging)."""
    return {
        "hub-event-type": event.event_type.value.encode(),
        "hub-event-id": str(event.event_id).encode(),
    }
