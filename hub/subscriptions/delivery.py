"""Outgoing webhooks: the change feed pushed to each subscription, gated, recorded, signed.

A run (:meth:`Deliverer.run_once`, every ``HUB_SUBSCRIPTION_INTERVAL_SECONDS`` in the worker, or
``hub subscriptions deliver --once``) takes, per active subscription, the feed after its cursor
and, per family side by side (one family's changes strictly in order), for each change:

1. the subscribing client as it is registered *now* (revoked: the subscription is disabled);
2. the alert as it is *now* (erased: nothing to send);
3. whether it is for this subscriber (:func:`hub.subscriptions.rules.wants`);
4. the sharing gate for the subscriber *now*, and the disclosure recorded durably — through
   :func:`hub.projections.alert_release.release_alerts`, the path every read takes. A consent
   withdrawn after subscribing withholds the alert: nothing is sent (the refusal is on record,
   nothing is disclosed);
5. POST with the Standard Webhooks headers, retried with exponential backoff (tenacity); after
   the last failed attempt the change goes to the dead-letter list and the family's later
   changes are held behind it (:func:`hub.subscriptions.rules.family_step`).

If a disclosure cannot be recorded the family stops there and the cursor waits before that
change (nothing was sent); the delivery log keeps what was done from being sent twice.
Delivery is at least once: a crash after the receiver's 2xx and before the log write sends the
change again, with the same ``webhook-id`` for the receiver to recognise.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

import httpx
from tenacity import AsyncRetrying, retry_if_exception_type, stop_after_attempt, wait_exponential

from hub.auth.store import ClientStore
from hub.events import utc_now
from hub.projections.alert_release import release_alerts
from hub.projections.changes import Change, changes_after
from hub.projections.store import MissedAppointmentStore
from hub.publisher import PublishError
from hub.settings import Settings
from hub.sharing.agreement import Agreement
from hub.sharing.context import SharingContext
from hub.sharing.disclosure import Channel
from hub.sharing.policy import Recipient
from hub.sink import CaseEventSink
from hub.subscriptions.destinations import Destinations, RefusedDestinationError
from hub.subscriptions.rules import (
    Step,
    body_of,
    by_family,
    family_step,
    held_reason,
    next_cursor,
    signed_headers,
    wants,
)
from hub.subscriptions.store import Outcome, Subscription, SubscriptionStore

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RetryPolicy:
    """How hard to try one change: attempts in all, and the exponential backoff between."""

    attempts: int = 5
    backoff_seconds: float = 1.0
    backoff_max_seconds: float = 300.0
    timeout_seconds: float = 10.0


class ReceiverFailedError(Exception):
    """The receiver did not answer 2xx (or could not be reached)."""


@dataclass
class RunReport:
    """What one run did (changes, not HTTP attempts)."""

    delivered: int = 0
    withheld: int = 0
    dead_lettered: int = 0
    held: int = 0
    stopped: int = 0  # families stopped because a disclosure could not be recorded
    attempts: int = 0
    subscriptions: set[str] = field(default_factory=set)


@dataclass(frozen=True)
class _Result:
    outcome: Outcome | None  # None: the change is not for this subscriber
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
        wall_clock: Callable[[], datetime] = utc_now,
    ) -> None:
        self._subscriptions = subscriptions
        self._alerts = alerts
        self._clients = clients
        self._context = context
        self._retry = retry
        self._destinations = destinations
        self._batch = batch
        self._parallel = parallel_families  # per subscription: one receiver is not flooded
        self._now = wall_clock  # signing timestamps and bookkeeping: real time

    async def run_once(self) -> RunReport:
        """One pass over every active subscription (side by side)."""
        report = RunReport()
        async with httpx.AsyncClient(
            timeout=self._retry.timeout_seconds, follow_redirects=False
        ) as http:
            await asyncio.gather(
                *(self._subscription(http, s, report) for s in self._subscriptions.active())
            )
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
        for group in self._subscriptions.replay_families(subscription.subscription_id):
            families.setdefault(group, [])
        slots = asyncio.Semaphore(self._parallel)

        async def family(group: str, changes: list[Change]) -> int | None:
            async with slots:
                return await self._family(http, subscription, recipient, group, changes, report)

        stops = await asyncio.gather(*(family(g, c) for g, c in families.items()))
        report.subscriptions.add(subscription.subscription_id)
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
        """One family's replayed dead letters, then its new changes, strictly in order.
        Returns the ``seq`` it stopped at when a disclosure could not be recorded."""
        sid = subscription.subscription_id
        current: Change | None = None
        try:
            waiting = self._subscriptions.dead_letters(sid, group)
            if any(d.replay_requested_at is not None for d in waiting):
                for dead in waiting:
                    current = dead.change
                    result = await self._deliver(http, subscription, recipient, dead.change)
                    report.attempts += result.attempts
                    if result.outcome is Outcome.DEAD:
                        self._subscriptions.dead_letter(
                            sid, dead.change, result.error or "failed", result.attempts, self._now()
                        )
                        self._subscriptions.cancel_replay(sid, group)
                        report.dead_lettered += 1
                        break
                    self._count(report, result)
                    self._subscriptions.record(
                        sid,
                        dead.change,
                        result.outcome or Outcome.NOT_FOR_SUBSCRIBER,
                        result.attempts,
                        None,
                        self._now(),
                    )
                    self._subscriptions.resolve(sid, dead.change.change_id, self._now())
                waiting = self._subscriptions.dead_letters(sid, group)
            for change in changes:
                current = change
                if self._subscriptions.dealt_with(sid, change.change_id):
                    continue
                first_waiting = waiting[0].change.change_id if waiting else None
                if family_step(first_waiting) is Step.HOLD:
                    assert first_waiting is not None
                    reason = held_reason(first_waiting)
                    self._subscriptions.dead_letter(sid, change, reason, 0, self._now())
                    report.held += 1
                    continue
                result = await self._deliver(http, subscription, recipient, change)
                report.attempts += result.attempts
                if result.outcome is None:
                    continue  # not for this subscriber: nothing to record
                if result.outcome is Outcome.DEAD:
                    error = result.error or "failed"
                    self._subscriptions.dead_letter(
                        sid, change, error, result.attempts, self._now()
                    )
                    report.dead_lettered += 1
                    waiting = self._subscriptions.dead_letters(sid, group)
                    continue
                self._count(report, result)
                self._subscriptions.record(
                    sid, change, result.outcome, result.attempts, None, self._now()
                )
        except PublishError as error:
            log.warning("subscription %s: disclosure not recorded, not sent: %s", sid, error)
            report.stopped += 1
            return current.seq if current is not None else None
        return None

    @staticmethod
    def _count(report: RunReport, result: _Result) -> None:
        if result.outcome is Outcome.DELIVERED:
            report.delivered += 1
        elif result.outcome is Outcome.WITHHELD:
            report.withheld += 1

    async def _deliver(
        self,
        http: httpx.AsyncClient,
        subscription: Subscription,
        recipient: Recipient,
        change: Change,
    ) -> _Result:
        """Fetch now, gate now, record, then send with retries. Raises
        :class:`PublishError` when the disclosure could not be recorded (nothing sent)."""
        view = self._alerts.alert(change.alert_id)
        if view is None:
            return _Result(Outcome.GONE)
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
            return _Result(Outcome.WITHHELD)
        body = body_of(change, shown[0])
        attempts = 0
        try:
            async for attempt in AsyncRetrying(
                stop=stop_after_attempt(self._retry.attempts),
                wait=wait_exponential(
                    multiplier=self._retry.backoff_seconds, max=self._retry.backoff_max_seconds
                ),
                retry=retry_if_exception_type(ReceiverFailedError),
                reraise=True,
            ):
                with attempt:
                    attempts += 1
                    await self._post(http, subscription, change, body)
        except ReceiverFailedError as error:
            return _Result(Outcome.DEAD, attempts, f"after {attempts} attempts: {error}")
        return _Result(Outcome.DELIVERED, attempts)

    async def _post(
        self, http: httpx.AsyncClient, subscription: Subscription, change: Change, body: str
    ) -> None:
        """One attempt, signed at its own timestamp, with the change id as ``webhook-id``."""
        try:  # again at every attempt: what the host resolves to may have changed
            await asyncio.to_thread(self._destinations.check, subscription.url)
        except RefusedDestinationError as error:
            raise ReceiverFailedError(f"not sent: {error}") from None
        headers = signed_headers(subscription.secret, change.change_id, self._now(), body)
        try:
            response = await http.post(subscription.url, content=body, headers=headers)
        except httpx.HTTPError as error:
            raise ReceiverFailedError(f"{type(error).__name__}: {error}") from error
        if not response.is_success:
            raise ReceiverFailedError(f"HTTP {response.status_code}")


def make_deliverer(
    settings: Settings,
    alerts: MissedAppointmentStore,
    sink: CaseEventSink,
    agreement: Agreement,
) -> Deliverer:
    """The worker's (and ``hub subscriptions deliver``'s) deliverer on the hub's database."""
    engine = alerts.engine
    subscriptions = SubscriptionStore(engine)
    subscriptions.create_schema()
    clients = ClientStore(engine)
    clients.create_schema()
    context = SharingContext.on_engine(agreement, engine, sink)
    retry = RetryPolicy(
        attempts=settings.subscription_attempts,
        backoff_seconds=settings.subscription_backoff_seconds,
        backoff_max_seconds=settings.subscription_backoff_max_seconds,
        timeout_seconds=settings.subscription_timeout_seconds,
    )
    destinations = Destinations.of(settings.subscription_allowed_networks)
    return Deliverer(subscriptions, alerts, clients, context, retry, destinations=destinations)
