"""Missed-appointment alerts as a pure fold over one family's events.

``fold(state, event, rules)`` takes what the projection knows about one family (the key of the
family topic, ADR 0010) and one case-event, and returns the new state plus the effects to
persist. No I/O and no wall clock here: the worker loads the family's state, calls
:func:`fold`, and writes the effects and the log position in one transaction
(``hub/alerts/store.py``). Decisions that need a clock — a booked appointment whose grace
period has passed, an alert left unacknowledged — are taken by :mod:`hub.alerts.timers`
and put on the log as events, so a rebuild from the log reaches the same alerts.

Rules:

* **Who hears.** An alert is addressed to the family's midwives and its lead practitioner and
  key worker(s), whoever is assigned, before or after the alert. Whether each may *see* it is
  the sharing policy's decision at delivery (``hub/sharing/gate.py``), not the fold's. Each is
  addressed as (organisation, id) (:class:`hub.practitioners.PractitionerRef`): the assignment's
  organisation, never the id alone.
* **One alert per appointment.** Its id derives from the source and appointment id, so a
  re-sent no-show, an inferred one for the same appointment, or a replay raises nothing new.
* **Who stops hearing.** A ``PractitionerUnassigned`` (same organisation and role) takes the
  practitioner out of the team: alerts raised after it are not addressed to them; alerts
  already raised keep their recipients (whoever was told stays told).
* **Never dropped.** An alert raised before anyone is assigned is kept and routed at assignment.
* **Escalation** to the family's safeguarding midwife (else the controller's safeguarding lead
  in the agreement): when the family misses ``rules.escalate_after_missed`` appointments within
  ``rules.escalate_within``, or when an ``AlertEscalated`` event says an alert went
  unacknowledged too long.
* **Acknowledge and close** by event, with who and when; an attendance recorded after an alert
  closes it, since the later fact wins.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from functools import lru_cache
from typing import Any, Final, TypeVar

from hub.alerts.state import (
    Alert,
    AlertSaved,
    AlertStatus,
    AppointmentOutcome,
    Booking,
    BookingSaved,
    Effect,
    FamilyState,
    MemberAssigned,
    MemberUnassigned,
    Person,
    PersonUpdated,
    Rules,
    TeamMember,
)
from hub.events import CaseEvent, deterministic_event_id
from hub.payloads import (
    AlertAcknowledged,
    AlertClosed,
    AlertEscalated,
    Appointment,
    AppointmentAttended,
    AppointmentBooked,
    AppointmentCancelled,
    AppointmentMissed,
    AppointmentModified,
    AppointmentRescheduled,
    PersonRegistered,
    PractitionerAssigned,
    PractitionerUnassigned,
    Source,
)
from hub.practitioners import PractitionerRef, acted_by
from hub.vocabulary import MIDWIFE_ROLES, PractitionerRole

PROJECTION = "missed_appointment_alerts"
# Roles an alert is addressed to besides the midwives (policy permitting, at delivery).
TEAM_ROLES: Final = frozenset({PractitionerRole.LEAD_PRACTITIONER, PractitionerRole.KEY_WORKER})
# who closes an alert the log itself resolved
HUB_USER: Final = PractitionerRef(organisation_code="hub", practitioner_id="hub")


_D = TypeVar("_D")


def _evolve(instance: _D, **changes: Any) -> _D:
    """``dataclasses.replace`` for the fold's frozen dataclasses at a third of its cost: a copy
    of the instance's fields with ``changes`` over them, without ``replace``'s walk over the
    fields and the frozen ``__init__``'s ``object.__setattr__`` per field (a rebuild calls it
    a few times per event; none of these classes has a ``__post_init__``). A change that names
    no field is refused, as ``replace`` would."""
    fields = type(instance).__dataclass_fields__  # type: ignore[attr-defined]
    if not changes.keys() <= fields.keys():
        raise TypeError(f"{type(instance).__name__} has no field {set(changes) - set(fields)}")
    evolved: _D = object.__new__(type(instance))
    evolved.__dict__.update(instance.__dict__, **changes)
    return evolved


def alert_id_for(source: Source, appointment_id: str) -> uuid.UUID:
    """One alert per appointment, whatever the number of messages that report it."""
    return _alert_id(source.organisation_code, source.system, appointment_id)


# An appointment's id is asked for by its booking, its no-show and its outcome, usually within
# one batch: a UUIDv5 (SHA-1 and a UUID built in Python) is made once for them (ADR 0048). The
# function is pure, so the cache changes no answer; bounded, so it stays small however long
# the log.
@lru_cache(maxsize=1 << 16)
def _alert_id(organisation_code: str, system: str, appointment_id: str) -> uuid.UUID:
    return deterministic_event_id(
        "missed-appointment-alert", organisation_code, system, appointment_id
    )


def fold(state: FamilyState, event: CaseEvent, rules: Rules) -> tuple[FamilyState, list[Effect]]:
    """Apply one event to one family's state; return the new state and what changed."""
    payload = event.payload
    if isinstance(payload, PersonRegistered):
        return _registered(state, event, payload)
    if isinstance(payload, PractitionerAssigned):
        return _assigned(state, event, payload, rules)
    if isinstance(payload, PractitionerUnassigned):
        return _unassigned(state, event, payload)
    if isinstance(payload, AppointmentBooked | AppointmentRescheduled | AppointmentModified):
        return _booked(state, event, payload.appointment, rules, reset=_resets(payload))
    if isinstance(payload, AppointmentCancelled):
        booking_id = alert_id_for(event.source, payload.appointment.appointment_id)
        return _resolved(state, booking_id, AppointmentOutcome.CANCELLED)
    if isinstance(payload, AppointmentAttended):
        return _attended(state, event, payload.appointment)
    if isinstance(payload, AppointmentMissed):
        return _missed(state, event, payload, rules)
    if isinstance(payload, AlertAcknowledged | AlertClosed | AlertEscalated):
        return _alert_changed(state, event, payload, rules)
    return state, []


def _resets(payload: AppointmentBooked | AppointmentRescheduled | AppointmentModified) -> bool:
    """A booking or a move awaits a new outcome; a modification keeps the one it has."""
    return not isinstance(payload, AppointmentModified)


def _registered(
    state: FamilyState, event: CaseEvent, payload: PersonRegistered
) -> tuple[FamilyState, list[Effect]]:
    key = event.subject_key()
    before = state.people.get(key, Person(subject_key=key))
    person = _evolve(
        before,
        nhs_number=event.nhs_number() or before.nhs_number,
        given_name=payload.given_name or before.given_name,
        family_name=payload.family_name or before.family_name,
        birth_date=payload.birth_date or before.birth_date,
        language=payload.language or before.language,
    )
    if state.people.get(key) == person:
        return state, []
    people = {**state.people, key: person}
    return _evolve(state, people=people), [PersonUpdated(state.family_key, person)]


def _addressed_to(member: TeamMember) -> bool:
    return member.role in MIDWIFE_ROLES or member.role in TEAM_ROLES


def _assigned(
    state: FamilyState, event: CaseEvent, payload: PractitionerAssigned, rules: Rules
) -> tuple[FamilyState, list[Effect]]:
    member = TeamMember(
        subject_key=event.subject_key(),
        practitioner_id=payload.practitioner_id,
        name=payload.name,
        role=payload.role,
        organisation_code=payload.organisation_code,
        contact=payload.contact,
        assigned_at=event.occurred_at,
    )
    slot = (member.subject_key, member.ref)
    if state.team.get(slot) == member:
        return state, []
    effects: list[Effect] = [MemberAssigned(state.family_key, member)]
    state = _evolve(state, team={**state.team, slot: member})
    for alert in list(state.alerts.values()):  # a practitioner who joins late still hears
        if alert.status is AlertStatus.CLOSED:
            continue
        routed = _evolve(
            alert,
            recipients=alert.recipients | _recipients(state),
            escalated_to=_escalation_to(state, alert, rules),
        )
        if routed != alert:
            state, saved = _save(state, routed, "routed")
            effects.append(saved)
    return state, effects


def _unassigned(
    state: FamilyState, event: CaseEvent, payload: PractitionerUnassigned
) -> tuple[FamilyState, list[Effect]]:
    """The member leaves the team if the assignment that ends is the one held (same
    organisation and role); alerts already raised keep their recipients."""
    who = PractitionerRef(
        organisation_code=payload.organisation_code, practitioner_id=payload.practitioner_id
    )
    slot = (event.subject_key(), who)
    member = state.team.get(slot)
    if member is None or member.role is not payload.role:
        return state, []
    team = {k: m for k, m in state.team.items() if k != slot}
    return _evolve(state, team=team), [MemberUnassigned(state.family_key, slot[0], who)]


def _booked(
    state: FamilyState, event: CaseEvent, appointment: Appointment, rules: Rules, *, reset: bool
) -> tuple[FamilyState, list[Effect]]:
    booking_id = alert_id_for(event.source, appointment.appointment_id)
    before = state.bookings.get(booking_id)
    outcome = None if reset or before is None else before.outcome
    if booking_id in state.alerts:
        outcome = AppointmentOutcome.MISSED  # already alerted: the timer has nothing left to watch
    booking = Booking(
        booking_id=booking_id,
        subject_key=event.subject_key(),
        subject=event.subject,
        source=event.source,
        appointment=appointment,
        due_at=appointment.start + rules.grace,
        outcome=outcome,
    )
    return _save_booking(state, booking)


def _resolved(
    state: FamilyState, booking_id: uuid.UUID, outcome: AppointmentOutcome
) -> tuple[FamilyState, list[Effect]]:
    booking = state.bookings.get(booking_id)
    if booking is None or booking.outcome is outcome:
        return state, []
    return _save_booking(state, _evolve(booking, outcome=outcome), changed=True)


def _attended(
    state: FamilyState, event: CaseEvent, appointment: Appointment
) -> tuple[FamilyState, list[Effect]]:
    alert_id = alert_id_for(event.source, appointment.appointment_id)
    state, effects = _resolved(state, alert_id, AppointmentOutcome.ATTENDED)
    alert = state.alerts.get(alert_id)
    if alert is not None and alert.status is not AlertStatus.CLOSED:
        closed = _evolve(
            alert,
            status=AlertStatus.CLOSED,
            closed_by=HUB_USER,
            closed_at=event.occurred_at,
            close_reason=f"attendance recorded by {event.source.system} after the alert",
        )
        state, saved = _save(state, closed, "closed")
        effects.append(saved)
    return state, effects


def _missed(
    state: FamilyState, event: CaseEvent, payload: AppointmentMissed, rules: Rules
) -> tuple[FamilyState, list[Effect]]:
    appointment = payload.appointment
    alert_id = alert_id_for(event.source, appointment.appointment_id)
    booking = state.bookings.get(alert_id)
    if appointment.location is None and booking is not None:
        # A no-show message (an SIU^S26 often has no AIL segment) need not repeat where the
        # appointment was: the booking said, and the alert keeps it.
        appointment = appointment.model_copy(update={"location": booking.appointment.location})
    state, effects = _resolved(state, alert_id, AppointmentOutcome.MISSED)
    if alert_id in state.alerts:
        return state, effects
    key = event.subject_key()
    if key not in state.people:
        person = Person(subject_key=key, nhs_number=event.nhs_number())
        state = _evolve(state, people={**state.people, key: person})
        effects.append(PersonUpdated(state.family_key, person))
    alert = Alert(
        alert_id=alert_id,
        subject_key=key,
        subject=event.subject,
        appointment=appointment,
        missed_at=event.occurred_at,
        raised_at=event.recorded_at,
        source_system=event.source.system,
        organisation_code=event.source.organisation_code,
        source_event_id=event.event_id,
        inferred=payload.inferred,
        recipients=_recipients(state),
    )
    recent = [  # the family's, not only this person's: a mother and baby both missing counts
        a
        for a in state.alerts.values()
        if abs(a.missed_at - alert.missed_at) <= rules.escalate_within
    ]
    if len(recent) + 1 >= rules.escalate_after_missed:
        days = rules.escalate_within.days
        alert = _escalated(
            state,
            alert,
            rules,
            at=event.occurred_at,
            reason=f"{len(recent) + 1} appointments missed within {days} days",
        )
    state, saved = _save(state, alert, "raised")
    effects.append(saved)
    return state, effects


def _alert_changed(
    state: FamilyState,
    event: CaseEvent,
    payload: AlertAcknowledged | AlertClosed | AlertEscalated,
    rules: Rules,
) -> tuple[FamilyState, list[Effect]]:
    alert = state.alerts.get(payload.alert_id)
    if alert is None or alert.status is AlertStatus.CLOSED:
        return state, []  # the API checks the alert exists; a replayed duplicate is a no-op
    if isinstance(payload, AlertAcknowledged):
        if alert.status is AlertStatus.ACKNOWLEDGED:
            return state, []
        changed = _evolve(
            alert,
            status=AlertStatus.ACKNOWLEDGED,
            acknowledged_by=acted_by(event, payload.by, payload.by_organisation),
            acknowledged_at=event.occurred_at,
        )
        change = "acknowledged"
    elif isinstance(payload, AlertClosed):
        changed = _evolve(
            alert,
            status=AlertStatus.CLOSED,
            closed_by=acted_by(event, payload.by, payload.by_organisation),
            closed_at=event.occurred_at,
            close_reason=payload.reason,
        )
        change = "closed"
    else:
        if alert.escalated_at is not None or alert.status is not AlertStatus.OPEN:
            return state, []
        changed = _escalated(state, alert, rules, at=event.occurred_at, reason=payload.reason)
        change = "escalated"
    state, saved = _save(state, changed, change)
    return state, [saved]


def _recipients(state: FamilyState) -> frozenset[PractitionerRef]:
    """The team's members an alert is addressed to: each one's reference is its slot's in
    ``state.team``, so none is made anew for every alert raised."""
    return frozenset(ref for (_, ref), member in state.team.items() if _addressed_to(member))


def _escalation_to(state: FamilyState, alert: Alert, rules: Rules) -> frozenset[PractitionerRef]:
    """The family's safeguarding midwives, else the controller's safeguarding lead; never
    fewer than before (whoever was told stays told)."""
    if alert.escalated_at is None:
        return alert.escalated_to
    named = frozenset(
        ref
        for (_, ref), member in state.team.items()
        if member.role is PractitionerRole.SAFEGUARDING_MIDWIFE
    )
    lead_id = rules.safeguarding_leads.get(alert.organisation_code)
    lead = (
        frozenset(
            {PractitionerRef(organisation_code=alert.organisation_code, practitioner_id=lead_id)}
        )
        if lead_id
        else frozenset()
    )
    return alert.escalated_to | (named or lead)


def _escalated(
    state: FamilyState, alert: Alert, rules: Rules, *, at: datetime, reason: str
) -> Alert:
    alert = _evolve(alert, escalated_at=at, escalation_reason=reason)
    return _evolve(alert, escalated_to=_escalation_to(state, alert, rules))


def _save(state: FamilyState, alert: Alert, change: str) -> tuple[FamilyState, AlertSaved]:
    alerts = {**state.alerts, alert.alert_id: alert}
    return _evolve(state, alerts=alerts), AlertSaved(state.family_key, alert, change)


def _save_booking(
    state: FamilyState, booking: Booking, *, changed: bool = False
) -> tuple[FamilyState, list[Effect]]:
    """``changed``: the caller knows ``booking`` differs from the one held (its outcome moved),
    so the field-by-field comparison (pydantic's ``__eq__`` for the appointment and subject)
    is not run."""
    if not changed and state.bookings.get(booking.booking_id) == booking:
        return state, []
    bookings = {**state.bookings, booking.booking_id: booking}
    return _evolve(state, bookings=bookings), [BookingSaved(state.family_key, booking)]
