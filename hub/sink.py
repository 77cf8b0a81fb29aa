"""Where connectors put what they accepted or refused: the case-event and quarantine topics.

Keys decide partitions, and partitions decide order: every event about one person (later, one
family) carries the same key, so the projections see that person's events in order.
"""

from __future__ import annotations

from hub.avro_codec import case_event_codec, disclosure_codec, quarantine_codec
from hub.events import CaseEvent
from hub.publisher import Delivery, KafkaPublisher
from hub.quarantine import QuarantineRecord
from hub.settings import Settings
from hub.sharing.disclosure import Disclosure


def subject_key(event: CaseEvent) -> str:
    """The person an event is about, until identity matching gives a hub person id.

    A valid NHS number is the strongest key; otherwise the first local identifier,
    qualified by its system so two systems' ``12345`` never collide.
    """
    return event.nhs_number() or event.subject[0].key()


def partition_key(event: CaseEvent) -> bytes:
    return (event.family_key or subject_key(event)).encode("utf-8")


class CaseEventSink:
    """Durable publication of accepted events and refused input."""

    def __init__(self, publisher: KafkaPublisher, settings: Settings) -> None:
        self._publisher = publisher
        self._events_topic = settings.case_events_topic
        self._quarantine_topic = settings.quarantine_topic
        self._events = case_event_codec(settings.case_events_topic, settings.schema_registry_url)
        self._refused = quarantine_codec(settings.quarantine_topic, settings.schema_registry_url)
        self._disclosures_topic = settings.disclosures_topic
        self._disclosures = disclosure_codec(
            settings.disclosures_topic, settings.schema_registry_url
        )

    async def publish(self, event: CaseEvent) -> Delivery:
        return await self._publisher.publish(
            self._events_topic, partition_key(event), self._events.encode(event), _headers(event)
        )

    def publish_sync(self, event: CaseEvent) -> Delivery:
        return self._publisher.publish_sync(
            self._events_topic, partition_key(event), self._events.encode(event), _headers(event)
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
