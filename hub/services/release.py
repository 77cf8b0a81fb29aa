"""The gate-and-record path without HTTP: what every outgoing channel needs to release data.

API reads, the inbox pages, outgoing webhooks and Server-Sent Events all release personal data
the same way — today's agreement, the subject's consent and override facts, the clock, and a
durable disclosure record before anything leaves. :class:`SharingContext` bundles those
adapters so that a caller with no FastAPI ``Request`` (the webhook delivery in the worker, a
stream's loop) goes through exactly the same code: :meth:`SharingContext.release` asks
:func:`hub.sharing.gate.release` (and so :func:`hub.sharing.policy.decide`, the one decision),
:meth:`SharingContext.record` writes the disclosures and raises if the broker did not take them.
The HTTP routes take it as a dependency built from the hub
(:func:`hub.http.dependencies.sharing_context`), and the use cases turn a failed record into
:class:`~hub.services.errors.NotRecordedError` (503).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import TypeVar

from sqlalchemy import Engine

from hub.disclosures import Channel, Disclosure
from hub.events import utc_now
from hub.identity.store import IdentityStore
from hub.ingest.sink import CaseEventSink
from hub.sharing.agreement import Agreement
from hub.sharing.gate import Item, Plan, Release, Shape, release_planned, shape_of
from hub.sharing.policy import Recipient, Subject
from hub.sharing.store import SharingStore
from hub.vocabulary import Purpose

T = TypeVar("T")


@dataclass(frozen=True)
class ReleaseGate:
    """What deciding a release needs, and nothing to record it with: agreement, facts,
    identity (merges), clock. :class:`SharingContext` carries one; a benchmark or a dry run
    can use it alone."""

    agreement: Agreement
    sharing: SharingStore
    identity: IdentityStore
    clock: Callable[[], datetime]

    def release(
        self,
        reader: Recipient,
        subject: Subject,
        items: Sequence[Item[T]],
        *,
        channel: Channel,
        purpose: Purpose,
        reference: str,
        also: Iterable[str] = (),
    ) -> Release[T]:
        """The gate for ``reader`` now: the subject's facts (with those under ``also``, the
        person's other keys), today's agreement and this gate's clock. The decisions are
        :func:`hub.sharing.gate.plan`'s, made once per shape of items while the cached facts
        and the window of time they decide in are unchanged (:mod:`hub.sharing.memo`)."""
        at = self.clock()
        planned = self.plan(
            reader, subject, shape_of(items), channel=channel, purpose=purpose, at=at, also=also
        )
        return release_planned(planned, items, at=at, reference=reference)

    def plan(
        self,
        reader: Recipient,
        subject: Subject,
        shape: Shape,
        *,
        channel: Channel,
        purpose: Purpose,
        at: datetime,
        also: Iterable[str] = (),
    ) -> Plan:
        """:meth:`release`'s decisions for items of ``shape`` at ``at``, for a caller that knows
        the shape of its items without building them (:func:`hub.sharing.gate.disclose` then
        makes the release's disclosure): the same facts, memo and policy."""
        return self.sharing.current_memo(subject, also=also).plan(
            self.agreement,
            recipient=reader,
            purpose=purpose,
            subject=subject,
            at=at,
            shape=shape,
            channel=channel,
        )


@dataclass(frozen=True)
class SharingContext:
    """The adapters a release needs: agreement, facts, identity (merges), clock, sink."""

    agreement: Agreement
    sharing: SharingStore
    identity: IdentityStore
    sink: CaseEventSink
    clock: Callable[[], datetime]
    gate: ReleaseGate = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        gate = ReleaseGate(self.agreement, self.sharing, self.identity, self.clock)
        object.__setattr__(self, "gate", gate)  # frozen: set once, here

    @classmethod
    def on_engine(cls, agreement: Agreement, engine: Engine, sink: CaseEventSink) -> SharingContext:
        """For a shell with no app (the worker's webhooks and partner topics): the hub's stores
        on ``engine`` and the wall clock."""
        return cls(agreement, SharingStore(engine), IdentityStore(engine), sink, utc_now)

    def release(
        self,
        reader: Recipient,
        subject: Subject,
        items: Sequence[Item[T]],
        *,
        channel: Channel,
        purpose: Purpose,
        reference: str,
        also: Iterable[str] = (),
    ) -> Release[T]:
        """:meth:`ReleaseGate.release`: the gate for ``reader`` now."""
        return self.gate.release(
            reader, subject, items, channel=channel, purpose=purpose, reference=reference, also=also
        )

    async def record(self, disclosures: Iterable[Disclosure]) -> None:
        """Write every disclosure durably (broker ack); raises
        :class:`hub.kafka.publisher.PublishError` if one was not taken — then nothing may be
        sent. A read makes one per person: they are produced together and their acknowledgements
        awaited together (one round trip, not one per person), every one settled before this
        returns or raises."""
        outcomes = await asyncio.gather(
            *(self.sink.disclose(d) for d in disclosures), return_exceptions=True
        )
        for outcome in outcomes:
            if isinstance(outcome, BaseException):
                raise outcome
