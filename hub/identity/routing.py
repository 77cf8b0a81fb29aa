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
from collections.abc import Awaitable, Sequence
from typing import Final, Protocol

from sqlalchemy import Connection

from hub.erasure.sealing import Erasure, LogEntry
from hub.identity.store import IdentityStore, family_keys_in
from hub.kafka.publisher import Delivery, KafkaPublisher, Record

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
    """An entry the person index applied (``hub.projections.ports.Applied``): the entry, its
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

    def keys_for(
        self, applied: Sequence[Forwardable], connection: Connection | None = None
    ) -> list[bytes]:
        """Each entry's family id (one read of the person index for the batch; on
        ``connection`` where given, the transaction that applied it, from that batch's overlay
        without a query: ADR 0044); an erasure marker, whose person is already unlinked, keeps
        its key. SQL: call it off the loop."""
        subjects = {a.entry.subject_key() for a in applied if not isinstance(a.entry, Erasure)}
        families: dict[str, str] = {}
        if subjects:
            families = (
                self._identity.family_keys_of(subjects)
                if connection is None
                else family_keys_in(connection, subjects)
            )
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
        await self(applied)

    async def __call__(self, applied: Sequence[Forwardable], /) -> None:
        """:meth:`forward`: the runner's ``then`` hook."""
        await (await self.send(await asyncio.to_thread(self.route, applied)))

    def route(self, applied: Sequence[Forwardable], /) -> list[Record]:
        """The family-topic records of an applied part, keyed as its entries' subjects are
        placed now (:meth:`keys_for`): the runner calls it right after the part is applied and
        before the next part is (SQL: off the loop)."""
        return self.route_in(None, applied)

    def route_in(
        self, connection: Connection | None, applied: Sequence[Forwardable], /
    ) -> list[Record]:
        """:meth:`route` on ``connection``: in the transaction that applied the part
        (:meth:`IdentityStore.apply_parts`' ``after_part``), so it sees that part's writes
        (in the batch's overlay, which the store writes to the tables at the batch's end)."""
        keys = self.keys_for(applied, connection)
        return [
            (key, item.value, {"hub-event-type": _kind(item.entry).encode()})
            for key, item in zip(keys, applied, strict=True)
        ]

    async def send(self, records: Sequence[Record], /) -> Awaitable[list[Delivery]]:
        """Hand ``records`` to the producer now; what is returned waits for their
        acknowledgements (the runner awaits a batch's parts' together)."""
        return await self._publisher.produce_many(self._topic, records)


def _kind(entry: LogEntry) -> str:
    return "SUBJECT_ERASED" if isinstance(entry, Erasure) else entry.event_type.value
