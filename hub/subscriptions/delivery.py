"""Outgoing webhooks: the change feed pushed to each subscription, gated, recorded, signed.

A run (:meth:`Deliverer.run_once`, every ``HUB_SUBSCRIPTION_INTERVAL_SECONDS`` in the worker, or
``hub subscriptions deliver --once``) takes, per active subscription, the families whose waiting
changes are due (their retry time has come, or a replay was asked for) and the feed after its
cursor and, per family side by side (one family's changes strictly in order), for each change:

1. the subscribing client as it is registered *now* (revoked: the subscription is disabled);
2. the alert as it is *now* (erased: nothing to send);
3. whether it is for this subscriber (:func:`hub.subscriptions.rules.wants`);
4. the sharing gate for the subscriber *now*, and the disclosure recorded durably — through
   :func:`hub.services.alert_release.release_alerts`, the path every read takes. A consent
   withdrawn after subscribing withholds the alert: nothing is sent (the refusal is on record,
   nothing is disclosed);
5. one POST with the Standard Webhooks headers. A failure puts the change in the waiting list,
   due again after the schedule's next wait (``HUB_SUBSCRIPTION_RETRY_SCHEDULE``: 5 s, 5 min,
   30 min, 2 h, 5 h, 10 h, 10 h), with the family's later changes queued behind it
   (:func:`hub.subscriptions.rules.family_step`); when the schedule is used up the family's
   waiting changes become dead letters, sent again only on replay.

Nothing sleeps between attempts: the next attempt's time is in the store, and each run does
what is due by the clock it is given (tests advance it), so a receiver down for hours costs a
few attempts per family and heals by itself, across restarts and changes of leader.

If a disclosure cannot be recorded the family stops there and the cursor waits before that
change (nothing was sent); the delivery log keeps what was done from being sent twice. One
runner at a time (:class:`hub.storage.leases.Lease`): during a rebalance the old leader's run
and the new leader's would otherwise both send. Delivery is still at least once: a crash after the
receiver's 2xx and before the log write sends the change again, with the same ``webhook-id``
for the receiver to recognise.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

import httpx

from hub.alerts.changes import Change, changes_after
from hub.alerts.store import MissedAppointmentStore
from hub.auth.store import ClientStore
from hub.disclosures import Channel
from hub.events import utc_now
from hub.ingest.sink import CaseEventSink
from hub.kafka.publisher import PublishError
from hub.services.alert_release import release_alerts
from hub.services.release import SharingContext
from hub.settings import Settings
from hub.sharing.agreement import Agreement
from hub.sharing.policy import Recipient
from hub.storage.leases import Lease, uninterrupted
from hub.subscriptions.destinations import Destinations, RefusedDestinationError, pinned
from hub.subscriptions.models import DeadLetter, DeliveryOutcome, Subscription
from hub.subscriptions.rules import (
    Step,
    body_of,
    by_family,
    family_step,
    held_reason,
    next_cursor,
    retry_at,
    signed_headers,
    wants,
)
from hub.subscriptions.store import SubscriptionStore

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RetryPolicy:
    """How long to keep trying one change: the waits after each failed attempt (one attempt
    more than waits in all), and how long one attempt waits for the receiver."""

    schedule: tuple[float, ...] = (5.0, 300.0, 1800.0, 7200.0, 18000.0, 36000.0, 36000.0)
    timeout_seconds: float = 10.0


class ReceiverFailedError(Exception):
    """The receiver did not answer 2xx (or could not be reached)."""


class LeaseLostError(Exception):
    """Another runner holds the delivery lease: stop before sending anything more."""


@dataclass
class RunReport:
    """What one run did (changes, not HTTP attempts)."""

    delivered: int = 0
    withheld: int = 0
    retrying: int = 0  # failed this run, due again on the schedule
    dead_lettered: int = 0
    held: int = 0
    stopped: int = 0  # families stopped because a disclosure could not be recorded
    attempts: int = 0
    subscriptions: set[str] = field(default_factory=set)
    skipped: bool = False  # another runner held the lease: this run did nothing


@dataclass(frozen=True)
class _Result:
    outcome: DeliveryOutcome | None  # None: not for this subscriber; DEAD here: this attempt failed
    attempts: int = 0
    error: str | None = None


class Deliverer:
    """Pushes the alert change feed to every active subscription."""

    def __init__(
        self,
        subscriptions: SubscriptionStore,
        alerts: MissedAppointmentStore,
        clients: ClientStore,
        context: SharingContext,
        retry: RetryPolicy,
        *,
        destinations: Destinations,
        batch: int = 500,
        parallel_families: int = 8,
        clock: Callable[[], datetime] = utc_now,
        lease_seconds: float = 60.0,
    ) -> None:
        self._subscriptions = subscriptions
        self._alerts = alerts
        self._clients = clients
        self._context = context
        self._retry = retry
        self._destinations = destinations
        self._batch = batch
        self._parallel = parallel_families  # per subscription: one receiver is not flooded
        # What is due, bookkeeping and the lease; signing timestamps stay on real time (a
        # receiver checks them against its own clock).
        self._now = clock
        self._lease = Lease(alerts.engine, "webhook-delivery", lease_seconds)

    async def run_once(self) -> RunReport:
        """One pass over every active subscription (side by side), if no other runner is
        at it (:class:`hub.storage.leases.Lease`)."""
        report = RunReport()
        if not self._lease.take(self._now()):
            report.skipped = True
            return report
        try:
            async with httpx.AsyncClient(
                timeout=self._retry.timeout_seconds, follow_redirects=False
            ) as http:
                await asyncio.gather(
                    *(self._subscription(http, s, report) for s in self._subscriptions.active())
                )
        finally:
            self._lease.give_up()
        return report

    async def _subscription(
        self, http: httpx.AsyncClient, subscription: Subscription, report: RunReport
    ) -> None:
        client = self._clients.live_client(subscription.client_id)
        if client is None:
            self._subscriptions.disable(
                subscription.subscription_id, self._now(), "the subscribing client was revoked"
            )
            return
        recipient = client.recipient()  # who the policy judges: the client as registered now
        batch = changes_after(self._alerts.engine, subscription.cursor, self._batch)
        families = by_family(batch)
        for group in self._subscriptions.due_families(subscription.subscription_id, self._now()):
            families.setdefault(group, [])
        slots = asyncio.Semaphore(self._parallel)

        async def family(group: str, changes: list[Change]) -> int | None:
            async with slots:
                return await self._family(http, subscription, recipient, group, changes, report)

        stops = await asyncio.gather(*(family(g, c) for g, c in families.items()))
        report.subscriptions.add(subscription.subscription_id)
        if not self._lease.renew(self._now()):
            return  # another runner has it now: it moves the cursor
        cursor = next_cursor(subscription.cursor, batch, [s for s in stops if s is not None])
        if cursor != subscription.cursor:
            self._subscriptions.move_cursor(subscription.subscription_id, cursor)

    async def _family(
        self,
        http: httpx.AsyncClient,
        subscription: Subscription,
        recipient: Recipient,
        group: str,
        changes: list[Change],
        report: RunReport,
    ) -> int | None:
        """One family's waiting changes when they are due, then its new changes, strictly in
        order. Returns the ``seq`` it stopped at when a disclosure could not be recorded (or
        the lease was lost)."""
        sid = subscription.subscription_id
        current: Change | None = None
        try:
            waiting = self._subscriptions.waiting(sid, group)
            if waiting and self._due(waiting[0]):
                for queued in waiting:
                    current = queued.change
                    step = self._one(http, subscription, recipient, queued, report)
                    if not await uninterrupted(step):
                        break
                waiting = self._subscriptions.waiting(sid, group)
            for change in changes:
                current = change
                if self._subscriptions.dealt_with(sid, change.change_id):
                    continue
                first = waiting[0] if waiting else None
                if family_step(first.change.change_id if first else None) is Step.HOLD:
                    assert first is not None
                    reason = held_reason(first.change.change_id)
                    self._subscriptions.dead_letter(
                        sid, change, reason, 0, self._now(), first.next_attempt_at
                    )
                    report.held += 1
                    continue
                if not await uninterrupted(
                    self._one(http, subscription, recipient, change, report)
                ):
                    waiting = self._subscriptions.waiting(sid, group)
        except (PublishError, LeaseLostError) as error:
            log.warning("subscription %s: stopped before sending: %s", sid, error)
            report.stopped += 1
            return current.seq if current is not None else None
        return None

    def _due(self, first: DeadLetter) -> bool:
        due = first.next_attempt_at is not None and first.next_attempt_at <= self._now()
        return due or first.replay_requested_at is not None

    async def _one(
        self,
        http: httpx.AsyncClient,
        subscription: Subscription,
        recipient: Recipient,
        item: Change | DeadLetter,
        report: RunReport,
    ) -> bool:
        """Deliver one change (new, or waiting in the list) and book the outcome; ``False``
        when it failed and now waits — for its next attempt or, schedule used up, a replay."""
        sid = subscription.subscription_id
        change = item.change if isinstance(item, DeadLetter) else item
        if not self._lease.renew(self._now()):
            raise LeaseLostError("the delivery lease is held by another runner")
        result = await self._deliver(http, subscription, recipient, change)
        report.attempts += result.attempts
        if result.outcome is DeliveryOutcome.DEAD:  # this attempt failed
            failed = result.attempts + (item.attempts if isinstance(item, DeadLetter) else 0)
            replayed = isinstance(item, DeadLetter) and item.replay_requested_at is not None
            again = None if replayed else retry_at(failed, self._now(), self._retry.schedule)
            error = f"after {failed} attempts: {result.error or 'failed'}"
            self._subscriptions.dead_letter(sid, change, error, result.attempts, self._now(), again)
            self._subscriptions.reschedule(sid, change.family_key, again)
            if again is None:  # dead letters now, the family's replay (if any) over
                self._subscriptions.cancel_replay(sid, change.family_key)
                report.dead_lettered += 1
            else:
                report.retrying += 1
            return False
        if isinstance(item, DeadLetter):
            self._count(report, result)
            outcome = result.outcome or DeliveryOutcome.NOT_FOR_SUBSCRIBER
            self._subscriptions.record(sid, change, outcome, result.attempts, None, self._now())
            self._subscriptions.resolve(sid, change.change_id, self._now())
        elif result.outcome is not None:  # None: not for this subscriber, nothing to record
            self._count(report, result)
            self._subscriptions.record(
                sid, change, result.outcome, result.attempts, None, self._now()
            )
        return True

    @staticmethod
    def _count(report: RunReport, result: _Result) -> None:
        if result.outcome is DeliveryOutcome.DELIVERED:
            report.delivered += 1
        elif result.outcome is DeliveryOutcome.WITHHELD:
            report.withheld += 1

    async def _deliver(
        self,
        http: httpx.AsyncClient,
        subscription: Subscription,
        recipient: Recipient,
        change: Change,
    ) -> _Result:
        """Fetch now, gate now, record, then one attempt (each retry is gated and recorded
        again: a consent withdrawn during an outage binds the next attempt). Raises
        :class:`PublishError` when the disclosure could not be recorded (nothing sent)."""
        view = self._alerts.alert(change.alert_id)
        if view is None:
            return _Result(DeliveryOutcome.GONE)
        if not wants(recipient, view.alert):
            return _Result(None)
        shown = await release_alerts(
            self._context,
            recipient,
            [view],
            channel=Channel.WEBHOOK,
            reference=f"webhook {subscription.subscription_id} {change.change_id}",
        )
        if not shown:
            return _Result(DeliveryOutcome.WITHHELD)
        body = body_of(change, shown[0])
        try:
            await self._post(http, subscription, change, body)
        except ReceiverFailedError as error:
            return _Result(DeliveryOutcome.DEAD, 1, str(error))
        return _Result(DeliveryOutcome.DELIVERED, 1)

    async def _post(
        self, http: httpx.AsyncClient, subscription: Subscription, change: Change, body: str
    ) -> None:
        """One attempt, signed at its own timestamp, with the change id as ``webhook-id``."""
        try:  # again at every attempt: what the host resolves to may have changed
            address = await asyncio.to_thread(self._destinations.check, subscription.url)
        except RefusedDestinationError as error:
            raise ReceiverFailedError(f"not sent: {error}") from None
        # To the address just checked, not to what a second DNS answer says (rebinding).
        target = pinned(subscription.url, address)
        headers = signed_headers(subscription.secret, change.change_id, utc_now(), body)
        try:
            response = await http.post(
                target.url,
                content=body,
                headers={**headers, **target.headers},
                extensions=target.extensions,
            )
        except httpx.HTTPError as error:
            raise ReceiverFailedError(f"{type(error).__name__}: {error}") from error
        if not response.is_success:
            raise ReceiverFailedError(f"HTTP {response.status_code}")


def make_deliverer(
    settings: Settings,
    alerts: MissedAppointmentStore,
    sink: CaseEventSink,
    agreement: Agreement,
    clock: Callable[[], datetime] = utc_now,
) -> Deliverer:
    """The worker's (and ``hub subscriptions deliver``'s) deliverer on the hub's database."""
    engine = alerts.engine
    subscriptions = SubscriptionStore(engine, settings.key_wrapper())
    subscriptions.create_schema()
    clients = ClientStore(engine)
    clients.create_schema()
    context = SharingContext.on_engine(agreement, engine, sink)
    retry = RetryPolicy(
        schedule=tuple(settings.subscription_retry_schedule),
        timeout_seconds=settings.subscription_timeout_seconds,
    )
    destinations = Destinations.of(settings.subscription_allowed_networks)
    return Deliverer(
        subscriptions, alerts, clients, context, retry, destinations=destinations, clock=clock
    )
