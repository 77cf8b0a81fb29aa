"""Subscriptions in SQL: who subscribed, where to, the cursor, the delivery log, dead letters.

The tables have their own metadata, like the client registry's: they are configuration and
accountability, not a projection, so rebuilding projections never touches them.

* ``subscriptions`` — the owning client and the identity (organisation, role, user) it had when
  it subscribed, the URL, the Standard Webhooks secret, created / disabled, and the cursor: the
  last ``seq`` of the alert change feed this subscription has dealt with. The secret must sign,
  so it is kept recoverable, but wrapped with the key-encryption key (``wrapped:`` + base64,
  :mod:`hub.storage.kek`, ADR 0020): a copy of the database alone signs nothing. It is shown
  once, at creation, and never by any route after that.
* ``subscription_deliveries`` — one row per (subscription, change) that reached the gate: the
  outcome, the attempts and the last error. It makes a run repeatable (a change with a row is
  not sent again) and answers "what was attempted, what failed".
* ``subscription_dead_letters`` — changes waiting: one that failed and is due again at
  ``next_attempt_at`` (the retry schedule, :func:`hub.subscriptions.rules.retry_at`), one whose
  schedule is used up (``next_attempt_at`` empty: a dead letter), and the family's later changes
  queued behind either (the ordering rule, :func:`hub.subscriptions.rules.family_step`), with
  the reason and attempts. The retry time is kept here, not in a sleeping task, so a restart or
  a new leader picks it up. Replay asks the worker to deliver the dead letters again, in order.
"""

from __future__ import annotations

import base64
import secrets
import uuid
from datetime import UTC, datetime
from typing import Final

from sqlalchemy import (
    Engine,
    and_,
    func,
    insert,
    select,
    update,
)

from hub.alerts.changes import Change
from hub.sharing.policy import Recipient
from hub.storage.kek import KeyWrapper
from hub.storage.schema import create_tables
from hub.subscriptions.models import Counts, DeadLetter, DeliveryOutcome, Subscription
from hub.subscriptions.tables import (
    dead_letters_table,
    deliveries_table,
    subscriptions_metadata,
    subscriptions_table,
)


def new_secret() -> str:
    """A Standard Webhooks secret: ``whsec_`` and 32 random bytes, base64."""
    return "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()


def _utc(value: datetime | None) -> datetime | None:
    if value is None:
        return None
    return value if value.tzinfo else value.replace(tzinfo=UTC)


WRAPPED: Final = "wrapped:"


class ClearSecretError(RuntimeError):
    """A signing secret stored in clear: a database from before ADR 0020."""


def _subscription(row: object, wrapper: KeyWrapper) -> Subscription:
    m = row._mapping  # type: ignore[attr-defined]
    stored: str = m["secret"]
    if not stored.startswith(WRAPPED):
        raise ClearSecretError(
            f"subscription {m['subscription_id']}'s signing secret is stored in clear (a "
            "database from before ADR 0020): stop the hub and run `hub keys migrate`"
        )
    owner = f"subscription {m['subscription_id']}"
    secret = wrapper.unwrap(base64.b64decode(stored.removeprefix(WRAPPED)), owner).decode()
    return Subscription(
        subscription_id=m["subscription_id"],
        client_id=m["client_id"],
        recipient=Recipient(m["organisation_code"], m["role"], m["user_id"]),
        url=m["url"],
        description=m["description"],
        secret=secret,
        created_at=_utc(m["created_at"]) or m["created_at"],
        disabled_at=_utc(m["disabled_at"]),
        cursor=int(m["cursor"]),
    )


def _dead_letter(row: object) -> DeadLetter:
    m = row._mapping  # type: ignore[attr-defined]
    change = Change(
        seq=int(m["seq"]),
        change_id=m["change_id"],
        alert_id=uuid.UUID(m["alert_id"]),
        family_key=m["group_key"],
        change=m["change"],
        recorded_at=_utc(m["recorded_at"]) or m["recorded_at"],
    )
    return DeadLetter(
        change=change,
        reason=m["reason"],
        attempts=int(m["attempts"]),
        dead_at=_utc(m["dead_at"]) or m["dead_at"],
        replay_requested_at=_utc(m["replay_requested_at"]),
        next_attempt_at=_utc(m["next_attempt_at"]),
    )


class SubscriptionStore:
    """The subscription tables (SQLite or PostgreSQL, the hub's database)."""

    def __init__(self, engine: Engine, wrapper: KeyWrapper) -> None:
        self._engine = engine
        self._wrapper = wrapper

    def create_schema(self) -> None:
        create_tables(self._engine, subscriptions_metadata)

    def _wrap(self, subscription_id: str, secret: str) -> str:
        wrapped = self._wrapper.wrap(secret.encode(), f"subscription {subscription_id}")
        return WRAPPED + base64.b64encode(wrapped).decode()

    def wrap_clear_secrets(self) -> int:
        """Wrap signing secrets stored in clear (before ADR 0020); ``hub keys migrate``."""
        self.create_schema()
        with self._engine.begin() as connection:
            rows = connection.execute(
                select(subscriptions_table.c.subscription_id, subscriptions_table.c.secret).where(
                    subscriptions_table.c.secret.not_like(f"{WRAPPED}%")
                )
            ).all()
            for row in rows:
                connection.execute(
                    update(subscriptions_table)
                    .where(subscriptions_table.c.subscription_id == row.subscription_id)
                    .values(secret=self._wrap(row.subscription_id, row.secret))
                )
        return len(rows)

    def create(
        self,
        client_id: str,
        recipient: Recipient,
        url: str,
        description: str | None,
        *,
        cursor: int,
        now: datetime,
    ) -> Subscription:
        """A new subscription starting after ``cursor`` (the feed's newest ``seq``: changes
        from now on), with a fresh secret."""
        subscription = Subscription(
            subscription_id=f"sub_{uuid.uuid4().hex}",
            client_id=client_id,
            recipient=recipient,
            url=url,
            description=description,
            secret=new_secret(),
            created_at=now,
            disabled_at=None,
            cursor=cursor,
        )
        with self._engine.begin() as connection:
            connection.execute(
                insert(subscriptions_table).values(
                    subscription_id=subscription.subscription_id,
                    client_id=client_id,
                    organisation_code=recipient.organisation_code,
                    role=recipient.role,
                    user_id=recipient.user_id,
                    url=url,
                    description=description,
                    secret=self._wrap(subscription.subscription_id, subscription.secret),
                    created_at=now,
                    cursor=cursor,
                )
            )
        return subscription

    def get(self, subscription_id: str) -> Subscription | None:
        with self._engine.connect() as connection:
            row = connection.execute(
                select(subscriptions_table).where(
                    subscriptions_table.c.subscription_id == subscription_id
                )
            ).first()
        return None if row is None else _subscription(row, self._wrapper)

    def owned_by(self, organisation_code: str, user_id: str) -> list[Subscription]:
        """A subscriber's own subscriptions (organisation and user), oldest first."""
        with self._engine.connect() as connection:
            rows = connection.execute(
                select(subscriptions_table)
                .where(
                    subscriptions_table.c.organisation_code == organisation_code,
                    subscriptions_table.c.user_id == user_id,
                )
                .order_by(subscriptions_table.c.created_at)
            ).all()
        return [_subscription(row, self._wrapper) for row in rows]

    def active(self) -> list[Subscription]:
        with self._engine.connect() as connection:
            rows = connection.execute(
                select(subscriptions_table)
                .where(subscriptions_table.c.disabled_at.is_(None))
                .order_by(subscriptions_table.c.created_at)
            ).all()
        return [_subscription(row, self._wrapper) for row in rows]

    def disable(self, subscription_id: str, now: datetime, reason: str) -> None:
        with self._engine.begin() as connection:
            connection.execute(
                update(subscriptions_table)
                .where(
                    subscriptions_table.c.subscription_id == subscription_id,
                    subscriptions_table.c.disabled_at.is_(None),
                )
                .values(disabled_at=now, disabled_reason=reason)
            )

    def move_cursor(self, subscription_id: str, cursor: int) -> None:
        """Forward only: a runner that finishes late never moves it back over what another
        has dealt with since."""
        with self._engine.begin() as connection:
            connection.execute(
                update(subscriptions_table)
                .where(
                    subscriptions_table.c.subscription_id == subscription_id,
                    subscriptions_table.c.cursor < cursor,
                )
                .values(cursor=cursor)
            )

    def dealt_with(self, subscription_id: str, change_id: str) -> bool:
        """Whether the change already has an outcome here (then a re-run does not send it)."""
        with self._engine.connect() as connection:
            found = connection.execute(
                select(deliveries_table.c.outcome).where(
                    deliveries_table.c.subscription_id == subscription_id,
                    deliveries_table.c.change_id == change_id,
                )
            ).first()
        return found is not None

    def record(
        self,
        subscription_id: str,
        change: Change,
        outcome: DeliveryOutcome,
        attempts: int,
        error: str | None,
        now: datetime,
    ) -> None:
        """The change's outcome in the delivery log (attempts add up over replays)."""
        key = and_(
            deliveries_table.c.subscription_id == subscription_id,
            deliveries_table.c.change_id == change.change_id,
        )
        with self._engine.begin() as connection:
            before = connection.execute(select(deliveries_table.c.attempts).where(key)).first()
            if before is None:
                connection.execute(
                    insert(deliveries_table).values(
                        subscription_id=subscription_id,
                        change_id=change.change_id,
                        seq=change.seq,
                        group_key=change.family_key,
                        outcome=outcome.value,
                        attempts=attempts,
                        last_error=error,
                        updated_at=now,
                    )
                )
            else:
                connection.execute(
                    update(deliveries_table)
                    .where(key)
                    .values(
                        outcome=outcome.value,
                        attempts=int(before.attempts) + attempts,
                        last_error=error,
                        updated_at=now,
                    )
                )

    def dead_letter(
        self,
        subscription_id: str,
        change: Change,
        reason: str,
        attempts: int,
        now: datetime,
        retry_at: datetime | None = None,
    ) -> None:
        """Put a change in the waiting list, due again at ``retry_at`` — or, when that is
        ``None``, as a dead letter (or, after another failure, update it there)."""
        key = and_(
            dead_letters_table.c.subscription_id == subscription_id,
            dead_letters_table.c.change_id == change.change_id,
        )
        with self._engine.begin() as connection:
            before = connection.execute(select(dead_letters_table.c.attempts).where(key)).first()
            if before is None:
                connection.execute(
                    insert(dead_letters_table).values(
                        subscription_id=subscription_id,
                        change_id=change.change_id,
                        seq=change.seq,
                        alert_id=str(change.alert_id),
                        group_key=change.family_key,
                        change=change.change,
                        recorded_at=change.recorded_at,
                        reason=reason[:1000],
                        attempts=attempts,
                        dead_at=now,
                        next_attempt_at=retry_at,
                    )
                )
            else:
                connection.execute(
                    update(dead_letters_table)
                    .where(key)
                    .values(
                        reason=reason[:1000],
                        attempts=int(before.attempts) + attempts,
                        dead_at=now,
                        replay_requested_at=None,
                        next_attempt_at=retry_at,
                    )
                )
        outcome = DeliveryOutcome.DEAD if retry_at is None else DeliveryOutcome.RETRYING
        self.record(subscription_id, change, outcome, attempts, reason[:500], now)

    def reschedule(self, subscription_id: str, family_key: str, at: datetime | None) -> None:
        """A family's waiting changes follow its first one: due again together at ``at``, or
        all dead letters (``None``) once the first one's schedule is used up."""
        with self._engine.begin() as connection:
            connection.execute(
                update(dead_letters_table)
                .where(
                    dead_letters_table.c.subscription_id == subscription_id,
                    dead_letters_table.c.group_key == family_key,
                    dead_letters_table.c.resolved_at.is_(None),
                )
                .values(next_attempt_at=at)
            )
            if at is None:
                connection.execute(
                    update(deliveries_table)
                    .where(
                        deliveries_table.c.subscription_id == subscription_id,
                        deliveries_table.c.group_key == family_key,
                        deliveries_table.c.outcome == DeliveryOutcome.RETRYING.value,
                    )
                    .values(outcome=DeliveryOutcome.DEAD.value)
                )

    def resolve(self, subscription_id: str, change_id: str, now: datetime) -> None:
        """A dead letter settled on replay (delivered, withheld, gone): off the list."""
        with self._engine.begin() as connection:
            connection.execute(
                update(dead_letters_table)
                .where(
                    dead_letters_table.c.subscription_id == subscription_id,
                    dead_letters_table.c.change_id == change_id,
                )
                .values(resolved_at=now, replay_requested_at=None)
            )

    def dead_letters(self, subscription_id: str, family_key: str | None = None) -> list[DeadLetter]:
        """The subscription's dead letters (of one family, if given), in order: the changes
        whose retry schedule is used up, and those queued behind them."""
        return [d for d in self.waiting(subscription_id, family_key) if d.next_attempt_at is None]

    def waiting(self, subscription_id: str, family_key: str | None = None) -> list[DeadLetter]:
        """Every unresolved change of the list (of one family, if given), in order: those
        due for a retry and the dead letters."""
        condition = and_(
            dead_letters_table.c.subscription_id == subscription_id,
            dead_letters_table.c.resolved_at.is_(None),
        )
        if family_key is not None:
            condition = and_(condition, dead_letters_table.c.group_key == family_key)
        with self._engine.connect() as connection:
            rows = connection.execute(
                select(dead_letters_table).where(condition).order_by(dead_letters_table.c.seq)
            ).all()
        return [_dead_letter(row) for row in rows]

    def request_replay(self, subscription_id: str, now: datetime) -> int:
        """Mark every unresolved dead letter for delivery at the next run; how many."""
        with self._engine.begin() as connection:
            result = connection.execute(
                update(dead_letters_table)
                .where(
                    dead_letters_table.c.subscription_id == subscription_id,
                    dead_letters_table.c.resolved_at.is_(None),
                    dead_letters_table.c.next_attempt_at.is_(None),
                )
                .values(replay_requested_at=now)
            )
        return int(result.rowcount)

    def cancel_replay(self, subscription_id: str, family_key: str) -> None:
        """A family's replay stopped at a change that failed again: the rest wait, unrequested."""
        with self._engine.begin() as connection:
            connection.execute(
                update(dead_letters_table)
                .where(
                    dead_letters_table.c.subscription_id == subscription_id,
                    dead_letters_table.c.group_key == family_key,
                )
                .values(replay_requested_at=None)
            )

    def due_families(self, subscription_id: str, now: datetime) -> set[str]:
        """Families with waiting changes due now: a retry whose time has come, or a replay."""
        table = dead_letters_table
        with self._engine.connect() as connection:
            rows = connection.execute(
                select(table.c.group_key)
                .where(
                    table.c.subscription_id == subscription_id,
                    table.c.resolved_at.is_(None),
                    table.c.replay_requested_at.is_not(None) | (table.c.next_attempt_at <= now),
                )
                .distinct()
            ).all()
        return {row.group_key for row in rows}

    def counts(self, subscription_id: str) -> Counts:
        """Delivered, withheld, dead-lettered changes and attempts made, for the owner."""
        with self._engine.connect() as connection:
            rows = connection.execute(
                select(
                    deliveries_table.c.outcome,
                    func.count(),
                    func.coalesce(func.sum(deliveries_table.c.attempts), 0),
                )
                .where(deliveries_table.c.subscription_id == subscription_id)
                .group_by(deliveries_table.c.outcome)
            ).all()
        by_outcome = {row[0]: int(row[1]) for row in rows}
        waiting = self.waiting(subscription_id)
        return Counts(
            delivered=by_outcome.get(DeliveryOutcome.DELIVERED.value, 0),
            withheld=by_outcome.get(DeliveryOutcome.WITHHELD.value, 0),
            dead_letters=sum(1 for w in waiting if w.next_attempt_at is None),
            attempts=sum(int(row[2]) for row in rows),
            retrying=sum(1 for w in waiting if w.next_attempt_at is not None),
        )

    def outcome(self, subscription_id: str, change_id: str) -> tuple[DeliveryOutcome, int] | None:
        """A change's outcome and attempts so far (for tests and operators)."""
        with self._engine.connect() as connection:
            row = connection.execute(
                select(deliveries_table.c.outcome, deliveries_table.c.attempts).where(
                    deliveries_table.c.subscription_id == subscription_id,
                    deliveries_table.c.change_id == change_id,
                )
            ).first()
        return None if row is None else (DeliveryOutcome(row.outcome), int(row.attempts))
