"""What a subscriber is sent, in which order, and what its message looks like. Pure.

The shells (:mod:`hub.subscriptions.delivery` for webhooks, :mod:`hub.http.stream` for
Server-Sent Events) read the change feed and the alerts; every choice they make is here, so a
test can call it directly:

* :func:`wants` — whether a change of this alert is for this subscriber at all (addressing;
  whether the subscriber may *see* it is the sharing gate's question, asked afterwards);
* :func:`by_family` — the feed split per family, each in ``seq`` order: families are delivered
  side by side, one family's changes strictly one after another;
* :func:`family_step` — the ordering rule: a family with a change waiting (for its retry, or in
  the dead-letter list) queues every later change behind it, so they go out in order;
* :func:`retry_at` — when a change that failed is tried again, or never (dead-lettered);
* :func:`next_cursor` — how far the subscription's cursor may move after a run;
* :func:`message` / :func:`signed_headers` — the Standard Webhooks body and headers.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from standardwebhooks import Webhook

from hub.alerts.changes import Change
from hub.alerts.state import Alert
from hub.services.alert_release import AlertOut
from hub.sharing.policy import Recipient

ORGANISATION_ROLE = "PARTNER_SYSTEM"
"""A client that is an organisation's system, not a person: it is sent the alerts its own
organisation controls (raised from its records), not those addressed to a named user."""


def wants(subscriber: Recipient, alert: Alert) -> bool:
    """Whether a change of ``alert`` is for ``subscriber`` (before the sharing gate decides).

    A person's subscription follows the alerts addressed to that person — (organisation, id):
    a namesake in another organisation is another person — the team and whoever
    it was escalated to, as :meth:`Alert.addressed_to` says *now*, so an escalation brings the
    safeguarding lead the alert's later changes. An organisation's system (role
    ``PARTNER_SYSTEM``) has no user an alert is addressed to; it follows the alerts about its
    own organisation's appointments (``alert.organisation_code``), the records it controls.
    """
    if subscriber.role == ORGANISATION_ROLE:
        return alert.organisation_code == subscriber.organisation_code
    return subscriber.practitioner in alert.addressed_to()


def by_family(changes: Iterable[Change]) -> dict[str, list[Change]]:
    """The changes grouped by family (``family_key``), each group in ``seq`` order."""
    families: dict[str, list[Change]] = {}
    for change in sorted(changes, key=lambda c: c.seq):
        families.setdefault(change.family_key, []).append(change)
    return families


class Step(StrEnum):
    """What to do with a family's next change."""

    DELIVER = "DELIVER"  # nothing of the family is waiting: gate, record, send
    HOLD = "HOLD"  # an earlier change of the family is waiting: queue this one behind it


def family_step(waiting_dead_letter: str | None) -> Step:
    """The ordering rule. A receiver relying on order must never see a family's later change
    before its earlier one; so while an earlier change of the family waits for its retry or
    sits in the dead-letter list (``waiting_dead_letter`` names it), a later one is not
    attempted but queued behind it. The retry (or a replay) then sends the family's waiting
    changes in ``seq`` order and stops at the first that fails again. Other families are not
    affected."""
    return Step.DELIVER if waiting_dead_letter is None else Step.HOLD


def retry_at(failed_attempts: int, at: datetime, schedule: Sequence[float]) -> datetime | None:
    """When to try a change again after its ``failed_attempts``-th failure at ``at``: the
    schedule's wait for that attempt, or ``None`` when the schedule is used up (the change goes
    to the dead-letter list). A schedule of hours (5 s, 5 min, 30 min, 2 h, ...) lets an
    outage of a receiver heal by itself; the wait is in the store, not in a sleeping task, so a
    restart or a change of leader keeps it."""
    if failed_attempts > len(schedule):
        return None
    return at + timedelta(seconds=schedule[failed_attempts - 1])


def held_reason(waiting_dead_letter: str) -> str:
    return (
        f"held behind {waiting_dead_letter}, an earlier change of the same family waiting for "
        "its retry or in the dead-letter list: they are delivered in order"
    )


def next_cursor(cursor: int, batch: Sequence[Change], stopped_at: Iterable[int]) -> int:
    """Where the subscription's cursor moves after a run over ``batch``.

    Past the whole batch, unless a family had to stop at some change (its disclosure could not
    be recorded, so it was not sent): then just before the earliest such change, so it is read
    again next time. What other families already finished is not sent twice (the delivery log
    says so), and a change waiting for its retry or in the dead-letter list counts as finished.
    """
    stops = list(stopped_at)
    if stops:
        return max(cursor, min(stops) - 1)
    return max([cursor, *(change.seq for change in batch)])


def message(change: Change, alert: AlertOut) -> dict[str, Any]:
    """The body: Standard Webhooks' ``type`` / ``timestamp`` / ``data`` envelope.

    ``data.alert`` is the alert as it is *now*, as far as the subscriber may see it; ``change``
    says what happened and ``sequence`` orders the changes (within a family, the receiver sees
    them in this order).
    """
    return {
        "type": f"alert.{change.change}",
        "timestamp": change.recorded_at.isoformat(),
        "data": {
            "change_id": change.change_id,
            "sequence": change.seq,
            "change": change.change,
            "alert": alert.model_dump(mode="json"),
        },
    }


def body_of(change: Change, alert: AlertOut) -> str:
    """The exact text that is signed and sent (compact JSON, keys sorted)."""
    return json.dumps(message(change, alert), separators=(",", ":"), sort_keys=True)


def signed_headers(secret: str, change_id: str, at: datetime, body: str) -> dict[str, str]:
    """Standard Webhooks headers: the id (the receiver's idempotency key, the same on every
    attempt), the attempt's timestamp, and the signature over ``id.timestamp.body``."""
    return {
        "webhook-id": change_id,
        "webhook-timestamp": str(int(at.timestamp())),
        "webhook-signature": Webhook(secret).sign(change_id, at, body),
        "content-type": "application/json",
    }


def sse_event(change: Change, alert: AlertOut) -> str:
    """One Server-Sent Event: ``id`` is the feed's ``seq`` (what ``Last-Event-ID`` resumes
    from), ``event`` the change type, ``data`` the same body a webhook carries."""
    return f"id: {change.seq}\nevent: alert.{change.change}\ndata: {body_of(change, alert)}\n\n"
