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

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TypeVar

from sqlalchemy import Engine

from hub.disclosures import Channel, Disclosure
from hub.events import Purpose, utc_now
from hub.identity.store import IdentityStore
from hub.ingest.sink import CaseEventSink
from hub.sharing.agreement import Agreement
from hub.sharing.gate import Item, Release, release
from hub.sharing.policy import Recipient, Subject
from hub.sharing.store import SharingStore

T = TypeVar("T")


@dataclass(frozen=True)
class SharingContext:
    """The adapters a release needs: agreement, facts, identity (merges), clock, sink."""

    agreement: Agreement
    sharing: SharingStore
    identity: IdentityStore
    sink: CaseEventSink
    clock: Callable[[], datetime]

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
        """The gate for ``reader`` now: the subject's facts (with those under ``also``, the
        person's other keys), today's agreement and this context's clock."""
        return release(
            self.agreement,
            self.sharing.facts_for(subject, also=also),
            recipient=reader,
            purpose=purpose,
            subject=subject,
            at=self.clock(),
            items=items,
            channel=channel,
            reference=reference,
        )

    async def record(self, disclosures: Iterable[Disclosure]) -> None:
        """Write every disclosure durably (broker ack); raises
        :class:`hub.kafka.publisher.PublishError` if one was not taken — then nothing may be
        sent."""
        for disclosure in disclosures:
            await self.sink.disclose(disclosure)
