"""HTTP routes for webhook subscriptions: create, list, delete, dead letters, replay.

A subscription belongs to the authenticated client that made it (its organisation and user);
anyone else — another organisation, or another user of the same one — gets 404 for it, as for
one that does not exist, so a subscription's existence is not disclosed either. The URL must
reach a public address or a network the operator allowed
(:mod:`hub.subscriptions.destinations`). Subscribing
grants nothing: every change is judged by the sharing policy for the subscriber when it is
delivered (:mod:`hub.subscriptions.delivery`).
"""

from __future__ import annotations

import asyncio
from datetime import datetime

from fastapi import APIRouter, HTTPException, Response
from pydantic import AnyHttpUrl, BaseModel, ConfigDict, Field

from hub.alerts.changes import last_seq
from hub.events import utc_now
from hub.http.dependencies import AlertsDep, ClientDep, DestinationsDep, Reader, SubscriptionsDep
from hub.http.openapi import NOT_FOUND, unprocessable
from hub.sharing.policy import Recipient
from hub.subscriptions.destinations import RefusedDestinationError
from hub.subscriptions.models import DeadLetter, Subscription
from hub.subscriptions.store import SubscriptionStore


class SubscriptionIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    url: AnyHttpUrl = Field(description="Where changes are POSTed: an http or https URL.")
    description: str | None = Field(default=None, max_length=500)


class SubscriptionOut(BaseModel):
    subscription_id: str
    url: str
    description: str | None
    organisation_code: str
    user_id: str
    created_at: datetime
    disabled_at: datetime | None
    delivered: int
    withheld: int
    retrying: int = Field(
        description="Changes waiting for their next scheduled attempt, or queued behind one."
    )
    dead_letters: int
    attempts: int


class SubscriptionCreated(SubscriptionOut):
    secret: str = Field(
        description="The Standard Webhooks signing secret (whsec_...). Shown this once only."
    )


class DeadLetterOut(BaseModel):
    change_id: str
    sequence: int
    alert_id: str
    change: str
    reason: str
    attempts: int
    dead_at: datetime
    replay_requested_at: datetime | None


class ReplayAccepted(BaseModel):
    subscription_id: str
    replaying: int


def _out(store: SubscriptionStore, subscription: Subscription) -> SubscriptionOut:
    counts = store.counts(subscription.subscription_id)
    return SubscriptionOut(
        subscription_id=subscription.subscription_id,
        url=subscription.url,
        description=subscription.description,
        organisation_code=subscription.recipient.organisation_code,
        user_id=subscription.recipient.user_id,
        created_at=subscription.created_at,
        disabled_at=subscription.disabled_at,
        delivered=counts.delivered,
        withheld=counts.withheld,
        retrying=counts.retrying,
        dead_letters=counts.dead_letters,
        attempts=counts.attempts,
    )


def _dead_letter_out(dead: DeadLetter) -> DeadLetterOut:
    return DeadLetterOut(
        change_id=dead.change.change_id,
        sequence=dead.change.seq,
        alert_id=str(dead.change.alert_id),
        change=dead.change.change,
        reason=dead.reason,
        attempts=dead.attempts,
        dead_at=dead.dead_at,
        replay_requested_at=dead.replay_requested_at,
    )


def owned(store: SubscriptionStore, subscription_id: str, reader: Recipient) -> Subscription:
    """The reader's own subscription, else 404 (whether it exists or not)."""
    found = store.get(subscription_id)
    if (
        found is None
        or found.recipient.organisation_code != reader.organisation_code
        or found.recipient.user_id != reader.user_id
    ):
        raise HTTPException(404, f"no subscription {subscription_id} of yours")
    return found


def subscription_router() -> APIRouter:
    router = APIRouter(tags=["subscriptions"])

    @router.post(
        "/subscriptions",
        status_code=201,
        response_model=SubscriptionCreated,
        summary="Subscribe to alert changes by signed webhook (Standard Webhooks)",
    )
    async def create(
        body: SubscriptionIn,
        reader: Reader,
        client: ClientDep,
        destinations: DestinationsDep,
        store: SubscriptionsDep,
        alerts: AlertsDep,
    ) -> SubscriptionCreated:
        """Changes from now on of the alerts addressed to you (an organisation's system: the
        alerts its organisation controls), each as the sharing policy lets you see it when it
        is sent. The answer carries the signing secret, once."""
        try:
            await asyncio.to_thread(destinations.check, str(body.url))
        except RefusedDestinationError as error:
            raise unprocessable(
                ("body", "url"), f"not a webhook destination: {error}", str(body.url)
            ) from None
        created = store.create(
            client.client_id,
            reader,
            str(body.url),
            body.description,
            cursor=last_seq(alerts.engine),
            now=utc_now(),
        )
        return SubscriptionCreated(**_out(store, created).model_dump(), secret=created.secret)

    @router.get(
        "/subscriptions", response_model=list[SubscriptionOut], summary="Your subscriptions"
    )
    async def mine(reader: Reader, store: SubscriptionsDep) -> list[SubscriptionOut]:
        return [_out(store, s) for s in store.owned_by(reader.organisation_code, reader.user_id)]

    @router.delete(
        "/subscriptions/{subscription_id}",
        status_code=204,
        response_class=Response,
        summary="Stop a subscription (nothing more is sent)",
        responses=NOT_FOUND,
    )
    async def delete(subscription_id: str, reader: Reader, store: SubscriptionsDep) -> Response:
        owned(store, subscription_id, reader)
        store.disable(subscription_id, utc_now(), "deleted by its owner")
        return Response(status_code=204)

    @router.get(
        "/subscriptions/{subscription_id}/dead-letters",
        response_model=list[DeadLetterOut],
        summary="Changes that could not be delivered (or wait behind one that could not)",
        responses=NOT_FOUND,
    )
    async def dead_letters(
        subscription_id: str, reader: Reader, store: SubscriptionsDep
    ) -> list[DeadLetterOut]:
        owned(store, subscription_id, reader)
        return [_dead_letter_out(d) for d in store.dead_letters(subscription_id)]

    @router.post(
        "/subscriptions/{subscription_id}/dead-letters/replay",
        status_code=202,
        response_model=ReplayAccepted,
        summary="Deliver the dead letters again, in order, at the worker's next run",
        responses=NOT_FOUND,
    )
    async def replay(
        subscription_id: str, reader: Reader, store: SubscriptionsDep
    ) -> ReplayAccepted:
        """Each is fetched and judged by the policy again when it is sent: a consent withdrawn
        since it failed withholds it."""
        owned(store, subscription_id, reader)
        count = store.request_replay(subscription_id, utc_now())
        return ReplayAccepted(subscription_id=subscription_id, replaying=count)

    return router
