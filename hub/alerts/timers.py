"""The alert timers: decisions that need a clock, put on the log as events.

Two things happen because time passes rather than because a message arrived: a booked
appointment whose start plus the grace period has gone by with no arrival, attendance,
cancellation or reschedule is a no-show; an alert nobody acknowledged within
``Rules.escalate_unacknowledged_after`` is escalated. The timers do not change projections
themselves: they publish ``APPOINTMENT_MISSED`` (``inferred``) and ``ALERT_ESCALATED``
case-events, which the fold applies like any other. So the log holds every decision, a rebuild
reaches the same alerts, and the clock is an argument — tests pass their own.

Due times are in event time (the appointment's start, the alert's ``raised_at``); the clock
that is compared with them is the worker's wall clock (or a test's). Event ids derive from the
booking or alert, so a sweep that runs twice, or on two workers, publishes the same events and
the fold absorbs the repeat.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from hub.alerts.state import Alert, Booking, Rules
from hub.alerts.store import MissedAppointmentStore
from hub.events import CaseEvent, EventType, deterministic_event_id
from hub.ingest.sink import CaseEventSink
from hub.payloads import AlertEscalated, AppointmentMissed, Source
from hub.settings import Settings
from hub.sharing.agreement import Agreement
from hub.vocabulary import DataCategory, Sensitivity

log = logging.getLogger(__name__)
TIMER_SYSTEM = "hub-alert-timers"


def alert_rules(settings: Settings, agreement: Agreement) -> Rules:
    """The thresholds from settings; escalation falls back to each organisation's lead."""
    return Rules(
        grace=timedelta(minutes=settings.alert_grace_minutes),
        escalate_after_missed=settings.alert_escalate_after_missed,
        escalate_within=timedelta(days=settings.alert_escalate_within_days),
        escalate_unacknowledged_after=timedelta(hours=settings.alert_escalate_unacknowledged_hours),
        safeguarding_leads={
            code: organisation.safeguarding_lead
            for code, organisation in agreement.organisations.items()
        },
    )


def inferred_no_shows(due: Iterable[Booking], now: datetime) -> list[CaseEvent]:
    """An ``APPOINTMENT_MISSED`` (inferred) for each booking still without an outcome.

    The event keeps the booking's source, so its alert has the id an explicit no-show for the
    same appointment would have: one alert per appointment, however it was learnt.
    """
    return [
        CaseEvent(
            event_id=deterministic_event_id("inferred-no-show", str(booking.booking_id)),
            event_type=EventType.APPOINTMENT_MISSED,
            occurred_at=booking.due_at,
            recorded_at=now,
            source=booking.source,
            source_record_id=f"inferred:{booking.appointment.appointment_id}",
            subject=booking.subject,
            data_category=DataCategory.APPOINTMENTS,
            sensitivity=Sensitivity.ROUTINE,
            payload=AppointmentMissed(appointment=booking.appointment, inferred=True),
        )
        for booking in due
        if booking.outcome is None and booking.due_at <= now
    ]


def unacknowledged_escalations(
    alerts: Iterable[Alert], now: datetime, rules: Rules
) -> list[CaseEvent]:
    """An ``ALERT_ESCALATED`` for each open alert unacknowledged past the limit."""
    limit = rules.escalate_unacknowledged_after
    hours = limit.total_seconds() / 3600
    return [
        CaseEvent(
            event_id=deterministic_event_id("alert-escalated", str(alert.alert_id)),
            event_type=EventType.ALERT_ESCALATED,
            occurred_at=alert.raised_at + limit,
            recorded_at=now,
            source=Source(system=TIMER_SYSTEM, organisation_code=alert.organisation_code),
            source_record_id=f"escalation:{alert.alert_id}",
            subject=alert.subject,
            data_category=DataCategory.APPOINTMENTS,
            sensitivity=Sensitivity.ROUTINE,
            payload=AlertEscalated(
                alert_id=alert.alert_id,
                reason=f"not acknowledged within {hours:g} hours of being raised",
            ),
        )
        for alert in alerts
        if alert.escalated_at is None and alert.raised_at + limit <= now
    ]


@dataclass(frozen=True)
class SweepReport:
    inferred: int
    escalated: int


class AlertTimers:
    """The shell: read what is due from the store, publish the decisions, durably."""

    def __init__(
        self,
        store: MissedAppointmentStore,
        sink: CaseEventSink,
        rules: Rules,
        clock: Callable[[], datetime],
    ) -> None:
        self._store = store
        self._sink = sink
        self._rules = rules
        self._clock = clock

    async def sweep(self) -> SweepReport:
        now = self._clock()
        no_shows = inferred_no_shows(self._store.due_bookings(now), now)
        raised_by = now - self._rules.escalate_unacknowledged_after
        escalations = unacknowledged_escalations(
            self._store.unacknowledged(raised_by), now, self._rules
        )
        for event in [*no_shows, *escalations]:
            await self._sink.publish(event)  # raises PublishError: the next sweep tries again
        if no_shows or escalations:
            log.info(
                "alert timers: %d inferred no-shows, %d escalations",
                len(no_shows),
                len(escalations),
            )
        return SweepReport(inferred=len(no_shows), escalated=len(escalations))
