"""Re-keying the case-event stream by family (ADR 0010).

Connectors key case-events by the subject's data key (they know identifiers, not families). After
the identity projection has placed an event's subject in a family, the worker forwards the entry
— the same sealed bytes, unchanged — to the family topic keyed by the family id, so every
projection downstream sees one family's events in order on one partition. The family id is a
hub-made UUID: no identifier appears in the key.

A batch is forwarded at once (issue 19): its subjects' families read in one query, its records
produced together and their acknowledgements awaited together, before the runner returns — so
the case-event offsets are committed only once the forward is durable.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Final, Protocol

from hub.erasure.sealing import Erasure, LogEntry
from hub.identity.store import IdentityStore
from hub.kafka.publisher import KafkaPublisher, Record

# The entries whose apply can change the family of *other* subjects, whose entries are on other
# partitions (or behind on the same one): a relationship's related person, a merge's or an
# unmerge's identifiers; births and erasures too, to be safe. The person index forwards each
# entry under the family its subject had once it was applied, so the worker applies nothing that
# arrived after such an entry before what arrived before it has been forwarded.
REKEYING: Final = frozenset(
    {
        "RELATIONSHIP_RECORDED",
        "PERSON_MERGED",
        "PERSON_UNMERGED",
        "BIRTH_REGISTERED",
        "SUBJECT_ERASED",
    }
)


def may_rekey_others(event_type: bytes | None) -> bool:
    """Whether an entry with this ``hub-event-type`` header may change other subjects' families
    (:data:`REKEYING`); an entry without the header may."""
    return event_type is None or event_type.decode("ascii", "replace") in REKEYING


class Forwardable(Protocol):
    """An entry the person index applied (``hub.projections.runner.Applied``): the entry, its
    Kafka key as it arrived, and its bytes as they arrived."""

    @property
    def entry(self) -> LogEntry: ...
    @property
    def key(self) -> bytes | None: ...
    @property
    def value(self) -> bytes: ...


class FamilyRouter:
    """Forwards applied case-event entries to the family topic, awaiting the broker's acks."""

    def __init__(self, identity: IdentityStore, publisher: KafkaPublisher, topic: str) -> None:
        self._identity = identity
        self._publisher = publisher
        self._topic = topic

    def keys_for(self, applied: Sequence[Forwardable]) -> list[bytes]:
        """Each entry's family id (one read of the person index for the batch); an erasure
        marker, whose person is already unlinked, keeps its key. SQL: call it off the loop."""
        subjects = {a.entry.subject_key() for a in applied if not isinstance(a.entry, Erasure)}
        families = self._identity.family_keys_of(subjects) if subjects else {}
        keys: list[bytes] = []
        for item in applied:
            family = None
            if not isinstance(item.entry, Erasure):
                family = families.get(item.entry.subject_key())
            if family is not None:
                keys.append(family.encode("ascii"))
            elif item.key is None:
                raise ValueError("a case-event entry without a Kafka key cannot be routed")
            else:
                keys.append(item.key)
        return keys

    async def forward(self, applied: Sequence[Forwardable]) -> None:
        """Forward the batch, in order, and return once the broker confirmed all of it."""
        keys = await asyncio.to_thread(self.keys_for, applied)
        records: list[Record] = [
            (key, item.value, {"hub-event-type": _kind(item.entry).encode()})
            for key, item in zip(keys, applied, strict=True)
        ]
        await self._publisher.publish_many(self._topic, records)


def _kind(entry: LogEntry) -> str:
    return "SUBJECT_ERASED" if isinstance(entry, Erasure) else entry.event_type.value
