"""The missed-appointment projection as a pure fold.

``fold(state, event)`` takes what the projection knows about one person and one case-event and
returns the new state plus the effects to persist. No I/O happens here: the worker loads the
person's state from the store, calls :func:`fold`, and writes the effects and the log position
in one transaction (``hub/projections/store.py``).

Rules:

* A practitioner assigned in a midwife role becomes one of the person's midwives, and is added
  to every open alert about the person (a midwife who joins late still hears).
* A missed appointment raises one alert, addressed to the person's midwives. Its id is derived
  from the source and appointment id, so a re-sent no-show or a replay raises nothing new.
* An alert raised before any midwife is known is kept, unrouted, and routed at assignment:
  an alert is never dropped for want of a recipient.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field, replace
from datetime import date, datetime

from hub.events import (
    MIDWIFE_ROLES,
    Appointment,
    AppointmentMissed,
    CaseEvent,
    PersonRegistered,
    PractitionerAssigned,
    PractitionerRole,
    deterministic_event_id,
)

PROJECTION = "missed_appointments"


@dataclass(frozen=True)
class Person:
    subject_key: str
    nhs_number: str | None = None
    given_name: str | None = None
    family_name: str | None = None
    birth_date: date | None = None


@dataclass(frozen=True)
class Midwife:
    practitioner_id: str
    name: str
    role: PractitionerRole
    organisation_code: str
    contact: str | None
    assigned_at: datetime


@dataclass(frozen=True)
class Alert:
    alert_id: uuid.UUID
    subject_key: str
    appointment: Appointment
    missed_at: datetime
    raised_at: datetime
    source_system: str
    organisation_code: str
    source_event_id: uuid.UUID
    recipients: frozenset[str] = frozenset()
    status: str = "OPEN"


@dataclass(frozen=True)
class PersonState:
    """Everything the projection holds about one person."""

    person: Person
    midwives: dict[str, Midwife] = field(default_factory=dict)
    alerts: dict[uuid.UUID, Alert] = field(default_factory=dict)


@dataclass(frozen=True)
class PersonUpdated:
    person: Person


@dataclass(frozen=True)
class MidwifeAssigned:
    subject_key: str
    midwife: Midwife


@dataclass(frozen=True)
class AlertRaised:
    alert: Alert


@dataclass(frozen=True)
class AlertRouted:
    alert_id: uuid.UUID
    practitioner_id: str


Effect = PersonUpdated | MidwifeAssigned | AlertRaised | AlertRouted


def empty_state(key: str) -> PersonState:
    return PersonState(person=Person(subject_key=key))


def alert_id_for(event: CaseEvent, appointment: Appointment) -> uuid.UUID:
    """One alert per appointment, whatever the number of messages that report it."""
    return deterministic_event_id(
        "missed-appointment-alert",
        event.source.organisation_code,
        event.source.system,
        appointment.appointment_id,
    )


def fold(state: PersonState, event: CaseEvent) -> tuple[PersonState, list[Effect]]:
    """Apply one event to one person's state; return the new state and what changed."""
    if event.subject_key() != state.person.subject_key:
        raise ValueError(
            f"event {event.event_id} is about {event.subject_key()!r}, "
            f"not {state.person.subject_key!r}"
        )
    payload = event.payload
    if isinstance(payload, PersonRegistered):
        return _registered(state, event, payload)
    if isinstance(payload, PractitionerAssigned) and payload.role in MIDWIFE_ROLES:
        return _midwife_assigned(state, event, payload)
    if isinstance(payload, AppointmentMissed):
        return _missed(state, event, payload)
    return state, []


def _registered(
    state: PersonState, event: CaseEvent, payload: PersonRegistered
) -> tuple[PersonState, list[Effect]]:
    person = replace(
        state.person,
        nhs_number=event.nhs_number() or state.person.nhs_number,
        given_name=payload.given_name or state.person.given_name,
        family_name=payload.family_name or state.person.family_name,
        birth_date=payload.birth_date or state.person.birth_date,
    )
    if person == state.person:
        return state, []
    return replace(state, person=person), [PersonUpdated(person)]


def _midwife_assigned(
    state: PersonState, event: CaseEvent, payload: PractitionerAssigned
) -> tuple[PersonState, list[Effect]]:
    midwife = Midwife(
        practitioner_id=payload.practitioner_id,
        name=payload.name,
        role=payload.role,
        organisation_code=payload.organisation_code,
        contact=payload.contact,
        assigned_at=event.occurred_at,
    )
    effects: list[Effect] = []
    if state.midwives.get(midwife.practitioner_id) != midwife:
        effects.append(MidwifeAssigned(state.person.subject_key, midwife))
    alerts = dict(state.alerts)
    for alert in state.alerts.values():
        if alert.status == "OPEN" and midwife.practitioner_id not in alert.recipients:
            alerts[alert.alert_id] = replace(
                alert, recipients=alert.recipients | {midwife.practitioner_id}
            )
            effects.append(AlertRouted(alert.alert_id, midwife.practitioner_id))
    midwives = {**state.midwives, midwife.practitioner_id: midwife}
    return replace(state, midwives=midwives, alerts=alerts), effects


def _missed(
    state: PersonState, event: CaseEvent, payload: AppointmentMissed
) -> tuple[PersonState, list[Effect]]:
    alert_id = alert_id_for(event, payload.appointment)
    if alert_id in state.alerts:
        return state, []
    alert = Alert(
        alert_id=alert_id,
        subject_key=state.person.subject_key,
        appointment=payload.appointment,
        missed_at=event.occurred_at,
        raised_at=event.recorded_at,
        source_system=event.source.system,
        organisation_code=event.source.organisation_code,
        source_event_id=event.event_id,
        recipients=frozenset(state.midwives),
    )
    person = state.person
    effects: list[Effect] = []
    if person.nhs_number is None and event.nhs_number():
        person = replace(person, nhs_number=event.nhs_number())
        effects.append(PersonUpdated(person))
    effects.append(AlertRaised(alert))
    return replace(state, person=person, alerts={**state.alerts, alert_id: alert}), effects
