"""The pipeline benchmark's workload: a day of a maternity service's case-events, many families.

Each family is a mother and her baby, eight events: the mother is registered, given a community
midwife, consents to sharing with a voluntary partner, is booked, misses the appointment (an
alert), and the midwife acknowledges it; the baby's birth is registered (which puts the baby in
the mother's family) and a health visitor assigned. Events are produced step by step across all
families (every registration, then every assignment, ...), as a day's extracts arrive, so one
person's events stay in order while thousands of people are interleaved.

Times are near the wall clock, so no alert is old enough for the worker's timers to escalate it
during a run. The missed booking started three hours ago; every no-show is reported, and the
benchmark sets the no-show grace to a day so that the timers infer none from a booking whose
reported miss the worker has not reached yet (step-major order puts a thousand entries between
them). Either would add entries to the log being measured, more the slower the worker.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta

from hub.alerts.fold import alert_id_for
from hub.events import CaseEvent, EventType, utc_now
from hub.nhs_number import valid_nhs_numbers
from hub.payloads import (
    NHS_NUMBER_SYSTEM,
    AlertAcknowledged,
    Appointment,
    AppointmentBooked,
    AppointmentMissed,
    BirthRegistered,
    ConsentRecorded,
    Payload,
    PersonIdentifier,
    PersonRegistered,
    PractitionerAssigned,
    Source,
)
from hub.vocabulary import AssignmentScope, DataCategory, PractitionerRole, Purpose
from tests.builders import HOME_START, PROGRAMME, TRUST, event

EVENTS_PER_FAMILY = 8
MIDWIVES = 200
HEALTH_VISITORS = 100


def families_for(events: int) -> int:
    """How many families ``events`` events cover (the last step may be cut short)."""
    return max(1, -(-events // EVENTS_PER_FAMILY))


def steps(events: int, now: datetime | None = None) -> Iterator[list[CaseEvent]]:
    """The workload, one list per step across all families: ``events`` events in all.

    The events of one list are about different people, so they may be published concurrently;
    each list must be acknowledged before the next is published (a person's order).
    """
    now = now or utc_now()
    families = families_for(events)
    numbers = valid_nhs_numbers(600_000_000)
    people = [(next(numbers), next(numbers)) for _ in range(families)]
    left = events
    for step in range(EVENTS_PER_FAMILY):
        batch = [
            _event(step, family, mother, baby, now) for family, (mother, baby) in enumerate(people)
        ]
        batch = batch[:left]
        left -= len(batch)
        if batch:
            yield batch


def _event(step: int, family: int, mother: str, baby: str, now: datetime) -> CaseEvent:
    subject, event_type, payload, source = _fact(step, family, mother, baby, now)
    return event(
        event_type,
        payload,
        record_id=f"bench-{family}-{step}",
        nhs_number=subject,
        at=now - timedelta(hours=8 - step),
        source=source,
    )


def _fact(
    step: int, family: int, mother: str, baby: str, now: datetime
) -> tuple[str, EventType, Payload, Source]:
    """Step ``step`` of family ``family``: whom it is about, what, and who said so."""
    midwife = f"mw-{family % MIDWIVES}"
    appointment = Appointment(
        appointment_id=f"APT-{family}-1", start=now - timedelta(hours=3), service_type="antenatal"
    )
    if step == 0:
        registration = PersonRegistered(given_name=f"Mother{family}", family_name="Example")
        return mother, EventType.PERSON_REGISTERED, registration, TRUST
    if step == 1:
        midwife_assigned = _assignment(midwife, PractitionerRole.COMMUNITY_MIDWIFE)
        return mother, EventType.PRACTITIONER_ASSIGNED, midwife_assigned, TRUST
    if step == 2:
        consent = ConsentRecorded(
            consent_id=f"consent-{family}",
            recipients=(HOME_START,),
            categories=(DataCategory.APPOINTMENTS, DataCategory.DEMOGRAPHICS),
            purposes=(Purpose.DIRECT_CARE,),
            recorded_by="programme-midwife-1",
        )
        return mother, EventType.CONSENT_RECORDED, consent, PROGRAMME
    if step == 3:
        return (
            mother,
            EventType.APPOINTMENT_BOOKED,
            AppointmentBooked(appointment=appointment),
            TRUST,
        )
    if step == 4:
        return (
            mother,
            EventType.APPOINTMENT_MISSED,
            AppointmentMissed(appointment=appointment),
            TRUST,
        )
    if step == 5:
        alert = alert_id_for(TRUST, appointment.appointment_id)
        acknowledgement = AlertAcknowledged(alert_id=alert, by=midwife)
        return mother, EventType.ALERT_ACKNOWLEDGED, acknowledgement, TRUST
    if step == 6:
        birth = BirthRegistered(
            mother=(PersonIdentifier(system=NHS_NUMBER_SYSTEM, value=mother),),
            birth_date=(now - timedelta(days=2)).date(),
        )
        return baby, EventType.BIRTH_REGISTERED, birth, TRUST
    visitor = _assignment(f"hv-{family % HEALTH_VISITORS}", PractitionerRole.HEALTH_VISITOR)
    return baby, EventType.PRACTITIONER_ASSIGNED, visitor, TRUST


def _assignment(practitioner: str, role: PractitionerRole) -> PractitionerAssigned:
    return PractitionerAssigned(
        practitioner_id=practitioner,
        name=f"Practitioner {practitioner}",
        role=role,
        organisation_code=TRUST.organisation_code,
        scope=AssignmentScope.PERSON,
    )
