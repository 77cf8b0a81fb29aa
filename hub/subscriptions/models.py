"""What the subscription store answers with: a subscription, a change waiting, the counts,
and how a change ended for a subscriber."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from hub.alerts.changes import Change
from hub.sharing.policy import Recipient


class DeliveryOutcome(StrEnum):
    """How a change ended for a subscription."""

    DELIVERED = "DELIVERED"  # the receiver answered 2xx
    WITHHELD = "WITHHELD"  # the gate released nothing to the subscriber: nothing sent
    GONE = "GONE"  # the alert no longer exists (erased): nothing sent
    NOT_FOR_SUBSCRIBER = "NOT_FOR_SUBSCRIBER"  # (on replay) no longer addressed to it
    RETRYING = "RETRYING"  # failed (or queued behind one that did); due again on the schedule
    DEAD = "DEAD"  # in the dead-letter list


@dataclass(frozen=True)
class Subscription:
    subscription_id: str
    client_id: str
    recipient: Recipient  # as subscribed; delivery judges the client's identity *now*
    url: str
    description: str | None
    secret: str
    created_at: datetime
    disabled_at: datetime | None
    cursor: int


@dataclass(frozen=True)
class DeadLetter:
    change: Change
    reason: str
    attempts: int
    dead_at: datetime
    replay_requested_at: datetime | None
    next_attempt_at: datetime | None = None  # None: a dead letter; else when it is tried again


@dataclass(frozen=True)
class Counts:
    delivered: int
    withheld: int
    dead_letters: int
    attempts: int
    retrying: int = 0
