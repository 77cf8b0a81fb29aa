"""The subscription tables (see :mod:`hub.subscriptions.store` for what each row means).

Their own metadata, like the client registry's: configuration and accountability, not a
projection, so rebuilding projections never touches them. ``group_key`` columns hold the
family key (ADR 0010); the name stays so no migration is needed.
"""

from __future__ import annotations

from sqlalchemy import BigInteger, Column, DateTime, Integer, MetaData, String, Table

subscriptions_metadata = MetaData()

subscriptions_table = Table(
    "subscriptions",
    subscriptions_metadata,
    Column("subscription_id", String(40), primary_key=True),
    Column("client_id", String(64), nullable=False, index=True),
    Column("organisation_code", String(50), nullable=False),
    Column("role", String(50), nullable=False),
    Column("user_id", String(250), nullable=False),
    Column("url", String(2000), nullable=False),
    Column("description", String(500)),
    Column("secret", String(200), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("disabled_at", DateTime(timezone=True)),
    Column("disabled_reason", String(500)),
    Column("cursor", BigInteger, nullable=False),
)

deliveries_table = Table(
    "subscription_deliveries",
    subscriptions_metadata,
    Column("subscription_id", String(40), primary_key=True),
    Column("change_id", String(64), primary_key=True),
    Column("seq", BigInteger, nullable=False),
    Column("group_key", String(250), nullable=False),  # the change's family_key (older name)
    Column("outcome", String(20), nullable=False),
    Column("attempts", Integer, nullable=False),
    Column("last_error", String(500)),
    Column("updated_at", DateTime(timezone=True), nullable=False),
)

dead_letters_table = Table(
    "subscription_dead_letters",
    subscriptions_metadata,
    Column("subscription_id", String(40), primary_key=True),
    Column("change_id", String(64), primary_key=True),
    Column("seq", BigInteger, nullable=False),
    Column("alert_id", String(36), nullable=False),
    Column("group_key", String(250), nullable=False, index=True),
    Column("change", String(20), nullable=False),
    Column("recorded_at", DateTime(timezone=True), nullable=False),
    Column("reason", String(1000), nullable=False),
    Column("attempts", Integer, nullable=False),
    Column("dead_at", DateTime(timezone=True), nullable=False),
    Column("replay_requested_at", DateTime(timezone=True)),
    Column("next_attempt_at", DateTime(timezone=True)),  # empty: dead, waits for a replay
    Column("resolved_at", DateTime(timezone=True)),  # delivered (or settled) on replay
)
