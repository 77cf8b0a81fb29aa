"""A lease in the hub's database: one runner at a time for work that sends something out.

Webhook delivery and the partner-topic relay run as Faust timers on the consumer group's leader
only (``on_leader=True``). That is not enough when workers come and go: Faust asks "am I the
leader?" when the timer fires, so a run that began on the old leader carries on while the new
leader's timer starts its own — two runners, each gating, recording a disclosure and sending the
same change. ``hub subscriptions deliver`` beside a worker is the same case. The lease makes the
database, which both runners share, say who may run: a runner takes it for ``seconds``, renews
it before each change it sends, and gives it up at the end; a runner that cannot take or renew
it stops before sending. A runner that dies holds it until it expires, then the next one takes
over (and may send its last change again, with the same ``webhook-id``: at least once).

A worker that is *stopped* (a rebalance that removes it, a deploy) is different: Faust cancels
its timers, and a cancel between "disclosure recorded, sent" and "cursor moved" made the next
leader disclose and send that change again (the churn test found it). :func:`uninterrupted`
lets the change in hand finish — its send, its record and its cursor together — before the
cancellation goes on.

The lease is only as good as the clocks of the processes sharing it and assumes no runner stalls
for longer than ``seconds`` between renewing and sending; both hold on one host or an NTP-synced
cluster with the default of a minute against a 10 s send timeout.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Coroutine
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

from sqlalchemy import Column, DateTime, Engine, MetaData, String, Table, insert, or_, update
from sqlalchemy.exc import IntegrityError

from hub.storage.schema import create_tables

T = TypeVar("T")

leases_metadata = MetaData()

leases = Table(
    "runner_leases",
    leases_metadata,
    Column("name", String(100), primary_key=True),
    Column("holder", String(64), nullable=False),
    Column("until", DateTime(timezone=True), nullable=False),
)


class Lease:
    """One named lease, held (or not) by this runner."""

    def __init__(self, engine: Engine, name: str, seconds: float = 60.0) -> None:
        self._engine, self._name = engine, name
        self._seconds = timedelta(seconds=seconds)
        self.holder = uuid.uuid4().hex
        create_tables(engine, leases_metadata)

    def take(self, now: datetime) -> bool:
        """Take the lease (or renew it) unless another runner holds it unexpired."""
        if self.renew(now, taking=True):
            return True
        try:
            with self._engine.begin() as connection:
                connection.execute(
                    insert(leases).values(
                        name=self._name, holder=self.holder, until=now + self._seconds
                    )
                )
        except IntegrityError:  # someone else holds it (or just took it)
            return False
        return True

    def renew(self, now: datetime, *, taking: bool = False) -> bool:
        """Extend the lease if this runner still holds it (or, ``taking``, if it expired)."""
        mine = leases.c.holder == self.holder
        condition = or_(mine, leases.c.until < now) if taking else (mine & (leases.c.until >= now))
        with self._engine.begin() as connection:
            result = connection.execute(
                update(leases)
                .where(leases.c.name == self._name, condition)
                .values(holder=self.holder, until=now + self._seconds)
            )
        return bool(result.rowcount)

    def give_up(self) -> None:
        """Let the next runner take it at once."""
        with self._engine.begin() as connection:
            connection.execute(
                update(leases)
                .where(leases.c.name == self._name, leases.c.holder == self.holder)
                .values(until=datetime(1970, 1, 1, tzinfo=UTC))
            )


async def uninterrupted(step: Coroutine[Any, Any, T]) -> T:
    """Run ``step`` to its end even if the caller is cancelled meanwhile (then re-raise the
    cancellation): one change's send and bookkeeping are not torn apart by a graceful stop."""
    task = asyncio.ensure_future(step)
    try:
        return await asyncio.shield(task)
    except asyncio.CancelledError:
        await task
        raise
