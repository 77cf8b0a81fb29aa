"""What the alerts projection holds about a family, and the effects its fold returns.

The values :func:`hub.alerts.fold.fold` takes and gives back: a family's people, team,
bookings and alerts (:class:`FamilyState`), the thresholds it folds under (:class:`Rules`),
and the effects the store writes (:data:`Effect`). Apart from the fold so that the store, the
timers and the API can read an alert's shape without the rules that make one.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from enum import StrEnum

from hub.payloads import Appointment, PersonIdentifier, Source
from hub.practitioners import PractitionerRef
from hub.vocabulary import PractitionerRole


class AlertStatus(StrEnum):
    OPEN = "OPEN"
    ACKNOWLEDGED = "ACKNOWLEDGED"
    CLOSED = "CLOSED"


class AppointmentOutcome(StrEnum):
    """What became of a booked appointment; None while it awaits one."""

    ATTENDED = "ATTENDED"
    CANCELLED = "CANCELLED"
    MISSED = "MISSED"


@dataclass(frozen=True)
class Rules:
    """Configurable thresholds (``HUB_ALERT_*`` settings)."""

    grace: timedelta = timedelta(minutes=30)
    escalate_after_missed: int = 2
    escalate_within: timedelta = timedelta(days=28)
    escalate_unacknowledged_after: timedelta = timedelta(hours=24)
    # organisation code -> user id of its safeguarding lead (from the agreement), who is
    # addressed as (that organisation, that id)
    safeguarding_leads: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Person:
    subject_key: str
    nhs_number: str | None = None
    given_name: str | None = None
    family_name: str | None = None
    birth_date: date | None = None
    # her preferred language as her records give it (PersonRegistered.language, a BCP 47 tag):
    # what the midwife who reads the alert speaks and writes to her in; None: not recorded
    language: str | None = None


@dataclass(frozen=True)
class TeamMember:
    """A practitioner in the family's team, as far as alerts care."""

    subject_key: str
    practitioner_id: str
    name: str
    role: PractitionerRole
    organisation_code: str
    contact: str | None
    assigned_at: datetime

    @property
    def ref(self) -> PractitionerRef:
        return PractitionerRef(
            organisation_code=self.organisation_code, practitioner_id=self.practitioner_id
        )


@dataclass(frozen=True)
class Booking:
    """A booked appointment awaiting its outcome: what the no-show timer watches."""

    booking_id: uuid.UUID  # = the id of the alert it would raise
    subject_key: str
    subject: tuple[PersonIdentifier, ...]
    source: Source
    appointment: Appointment
    due_at: datetime  # start + grace: no outcome by then is a no-show
    outcome: AppointmentOutcome | None = None


@dataclass(frozen=True)
class Alert:
    alert_id: uuid.UUID
    subject_key: str
    subject: tuple[PersonIdentifier, ...]
    appointment: Appointment
    missed_at: datetime
    raised_at: datetime
    source_system: str
    organisation_code: str
    source_event_id: uuid.UUID
    inferred: bool = False
    recipients: frozenset[PractitionerRef] = frozenset()
    escalated_to: frozenset[PractitionerRef] = frozenset()
    escalated_at: datetime | None = None
    escalation_reason: str | None = None
    status: AlertStatus = AlertStatus.OPEN
    acknowledged_by: PractitionerRef | None = None
    acknowledged_at: datetime | None = None
    closed_by: PractitionerRef | None = None
    closed_at: datetime | None = None
    close_reason: str | None = None

    def addressed_to(self) -> frozenset[PractitionerRef]:
        """Everyone the alert was sent to: the team, and whoever it was escalated to — each as
        (organisation, id), so a namesake in another organisation is not among them."""
        return self.recipients | self.escalated_to


@dataclass(frozen=True)
class FamilyState:
    """Everything the projection holds about one family (or a person in none yet)."""

    family_key: str
    people: dict[str, Person] = field(default_factory=dict)
    team: dict[tuple[str, PractitionerRef], TeamMember] = field(default_factory=dict)
    bookings: dict[uuid.UUID, Booking] = field(default_factory=dict)
    alerts: dict[uuid.UUID, Alert] = field(default_factory=dict)


@dataclass(frozen=True)
class PersonUpdated:
    family_key: str
    person: Person


@dataclass(frozen=True)
class MemberAssigned:
    family_key: str
    member: TeamMember


@dataclass(frozen=True)
class MemberUnassigned:
    """A practitioner left the team: later alerts are not addressed to them."""

    family_key: str
    subject_key: str
    practitioner: PractitionerRef


@dataclass(frozen=True)
class BookingSaved:
    family_key: str
    booking: Booking


@dataclass(frozen=True)
class AlertSaved:
    """An alert raised or changed (routed, escalated, acknowledged, closed): its new state."""

    family_key: str
    alert: Alert
    change: str


Effect = PersonUpdated | MemberAssigned | MemberUnassigned | BookingSaved | AlertSaved


def empty_state(family_key: str) -> FamilyState:
    return FamilyState(family_key=family_key)
