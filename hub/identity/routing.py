"""Re-keying the case-event stream by family (ADR 0010).

Connectors key case-events by the subject's data key (they know identifiers, not families). After
the identity projection has placed an event's subject in a family, the worker forwards the entry
— the same sealed bytes, unchanged — to the family topic keyed by the family id, so every
projection downstream sees one family's events in order on one partition. The family id is a
hub-made UUID: no identifier appears in the key.
"""

from __future__ import annotations

from hub.erasure.sealing import Erasure, LogEntry
from hub.identity.store import IdentityStore
from hub.kafka.publisher import KafkaPublisher


class FamilyRouter:
    """Forwards applied case-event entries to the family topic, awaiting the broker's ack."""

    def __init__(self, identity: IdentityStore, publisher: KafkaPublisher, topic: str) -> None:
        self._identity = identity
        self._publisher = publisher
        self._topic = topic

    def key_for(self, entry: LogEntry, inbound_key: bytes | None) -> bytes:
        """The family id; an erasure marker (whose person is already unlinked) keeps its key."""
        if not isinstance(entry, Erasure):
            family = self._identity.family_key_of(entry.subject_key())
            if family is not None:
                return family.encode("ascii")
        if inbound_key is None:
            raise ValueError("a case-event entry without a Kafka key cannot be routed")
        return inbound_key

    async def forward(self, entry: LogEntry, inbound_key: bytes | None, value: bytes) -> None:
        kind = "SUBJECT_ERASED" if isinstance(entry, Erasure) else entry.event_type.value
        await self._publisher.publish(
            self._topic, self.key_for(entry, inbound_key), value, {"hub-event-type": kind.encode()}
        )
