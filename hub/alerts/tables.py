"""The missed-appointment alerts projection's tables, made for any generation (ADR 0015).

:func:`alert_tables` builds the five tables on a given :class:`~sqlalchemy.MetaData` with a
name suffix: the live generation (``""``, on :data:`alert_metadata`, the alerts' own, which
also holds the change feed of :mod:`hub.alerts.changes`) is what the worker and the API use;
``hub replay`` builds a ``__rebuild`` generation beside it and swaps it in.

A practitioner is stored as two columns, organisation and id (``hub.practitioners``); tables
made before that are refused at start (:func:`hub.storage.schema.require_columns`) until ``hub
replay missed_appointment_alerts`` has rebuilt them.

The ``group_key`` column holds the family key (``family_key`` in the code: the key of the family
topic, ADR 0010); the column keeps its older name so existing databases need no migration.
"""

from __future__ import annotations

from typing import NamedTuple

from sqlalchemy import Boolean, Column, Date, DateTime, MetaData, String, Table, Text

# The live generation's tables and the change feed; the store creates them explicitly.
alert_metadata = MetaData()


class AlertTables(NamedTuple):
    """One generation of the projection's tables."""

    people: Table
    team: Table
    bookings: Table
    alerts: Table
    recipients: Table


def alert_tables(metadata: MetaData, suffix: str = "") -> AlertTables:
    """The tables named ``<live name><suffix>`` on ``metadata``."""
    people = Table(
        f"alert_people{suffix}",
        metadata,
        Column("group_key", String(250), primary_key=True),
        Column("subject_key", String(250), primary_key=True, index=True),
        Column("nhs_number", String(10)),
        Column("given_name", String(200)),
        Column("family_name", String(200)),
        Column("birth_date", Date),
        Column("language", Text),  # a BCP 47 tag (PersonRegistered.language), or NULL
    )
    team = Table(
        f"alert_team{suffix}",
        metadata,
        Column("group_key", String(250), primary_key=True),
        Column("subject_key", String(250), primary_key=True, index=True),
        Column("organisation_code", String(50), primary_key=True),  # the practitioner's
        Column("practitioner_id", String(250), primary_key=True),
        Column("name", String(200), nullable=False),
        Column("role", String(50), nullable=False),
        Column("contact", String(250)),
        Column("assigned_at", DateTime(timezone=True), nullable=False),
    )
    bookings = Table(
        f"alert_bookings{suffix}",
        metadata,
        Column("booking_id", String(36), primary_key=True),
        Column("group_key", String(250), nullable=False, index=True),
        Column("subject_key", String(250), nullable=False, index=True),
        Column("subject", Text, nullable=False),
        Column("source_system", String(100), nullable=False),
        Column("organisation_code", String(50), nullable=False),
        Column("appointment", Text, nullable=False),
        Column("due_at", DateTime(timezone=True), nullable=False, index=True),
        Column("outcome", String(20)),
    )
    alerts = Table(
        f"alerts{suffix}",
        metadata,
        Column("alert_id", String(36), primary_key=True),
        Column("group_key", String(250), nullable=False, index=True),
        Column("subject_key", String(250), nullable=False, index=True),
        Column("subject", Text, nullable=False),
        Column("appointment", Text, nullable=False),
        Column("appointment_start", DateTime(timezone=True), nullable=False),
        Column("missed_at", DateTime(timezone=True), nullable=False),
        Column("raised_at", DateTime(timezone=True), nullable=False),
        Column("source_system", String(100), nullable=False),
        Column("organisation_code", String(50), nullable=False),
        Column("source_event_id", String(36), nullable=False),
        Column("inferred", Boolean, nullable=False),
        Column("status", String(20), nullable=False, index=True),
        Column("escalated_at", DateTime(timezone=True)),
        Column("escalation_reason", String(500)),
        Column("acknowledged_by_organisation", String(50)),
        Column("acknowledged_by", String(250)),
        Column("acknowledged_at", DateTime(timezone=True)),
        Column("closed_by_organisation", String(50)),
        Column("closed_by", String(250)),
        Column("closed_at", DateTime(timezone=True)),
        Column("close_reason", String(500)),
    )
    recipients = Table(
        f"alert_recipients{suffix}",
        metadata,
        Column("alert_id", String(36), primary_key=True),
        # who, as (organisation, id): a namesake in another organisation is another row
        Column("organisation_code", String(50), primary_key=True, index=True),
        Column("practitioner_id", String(250), primary_key=True, index=True),
        Column("routine", Boolean, nullable=False),  # addressed as a member of the team
        Column("escalation", Boolean, nullable=False),  # told because the alert was escalated
    )
    return AlertTables(people, team, bookings, alerts, recipients)
