"""Demo data: the Salford story from ``docs/domain`` as case-events, so ``make run`` has an
alert to show.

A mother referred to Strengthening Families at 11 weeks has a programme midwife assigned, her
16-week antenatal appointment booked, and then missed. The worker turns the no-show into an
alert for the midwife. Ids are deterministic, so loading the demo twice changes nothing.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from hub.auth.store import ClientStore
from hub.bootstrap import database, publishing
from hub.events import (
    NHS_NUMBER_SYSTEM,
    Appointment,
    AppointmentBooked,
    AppointmentMissed,
    AssignmentScope,
    CaseEvent,
    DataCategory,
    EventType,
    Payload,
    PersonIdentifier,
    PersonRegistered,
    PractitionerAssigned,
    PractitionerRole,
    Sensitivity,
    Source,
    deterministic_event_id,
)
from hub.settings import Settings

DEMO_NHS_NUMBER = "9434765919"  # passes modulus 11; the NHS's published test-number range
DEMO_MIDWIFE_ID = "demo-midwife-1"
# The API client the demo midwife reads with (ADR 0012): registered by `make run`.
DEMO_CLIENT_ID = "demo-midwife-1"
TRUST = Source(system="demo-maternity-pas", organisation_code="R0A")


def _event(
    event_type: EventType,
    record_id: str,
    occurred_at: datetime,
    category: DataCategory,
    payload: Payload,
) -> CaseEvent:
    return CaseEvent(
        event_id=deterministic_event_id("demo", event_type, record_id),
        event_type=event_type,
        occurred_at=occurred_at,
        recorded_at=occurred_at,
        source=TRUST,
        source_record_id=record_id,
        subject=(PersonIdentifier(system=NHS_NUMBER_SYSTEM, value=DEMO_NHS_NUMBER),),
        data_category=category,
        sensitivity=Sensitivity.ROUTINE,
        payload=payload,
    )


def demo_events(today: date) -> list[CaseEvent]:
    """The story, dated so that the missed appointment was yesterday morning."""
    missed_day = datetime.combine(today - timedelta(days=1), datetime.min.time(), tzinfo=UTC)
    appointment = Appointment(
        appointment_id="APT-16W-0001",
        start=missed_day + timedelta(hours=9, minutes=30),
        end=missed_day + timedelta(hours=10),
        service_type="antenatal",
        description="16-week antenatal check",
        location="North Manchester antenatal clinic",
        practitioner_ids=(DEMO_MIDWIFE_ID,),
    )
    referred = missed_day - timedelta(weeks=5)
    return [
        _event(
            EventType.PERSON_REGISTERED,
            "PAT-0001",
            referred,
            DataCategory.DEMOGRAPHICS,
            PersonRegistered(
                given_name="Amy",
                family_name="Example",
                birth_date=date(1998, 4, 2),
                postcode="M8 5RB",
            ),
        ),
        _event(
            EventType.PRACTITIONER_ASSIGNED,
            "ASSIGN-0001",
            referred + timedelta(days=1),
            DataCategory.PRACTITIONER_ALLOCATION,
            PractitionerAssigned(
                practitioner_id=DEMO_MIDWIFE_ID,
                name="Sam Okafor",
                role=PractitionerRole.PROGRAMME_MIDWIFE,
                organisation_code="R0A",
                contact="sam.okafor@nhs.example",
                scope=AssignmentScope.PERSON,
            ),
        ),
        _event(
            EventType.APPOINTMENT_BOOKED,
            appointment.appointment_id,
            referred + timedelta(days=2),
            DataCategory.APPOINTMENTS,
            AppointmentBooked(appointment=appointment),
        ),
        _event(
            EventType.APPOINTMENT_MISSED,
            appointment.appointment_id,
            appointment.start,
            DataCategory.APPOINTMENTS,
            AppointmentMissed(appointment=appointment),
        ),
    ]


def publish_demo(settings: Settings, today: date | None = None) -> list[str]:
    """Publish the story durably; returns one line per event for the user."""
    lines = []
    with publishing(settings, "hub-demo") as sink:
        for event in demo_events(today or date.today()):
            delivery = sink.publish_sync(event)
            lines.append(f"{event.event_type.value:<22} -> {delivery.topic}[{delivery.partition}]")
    return lines


def demo_reader(settings: Settings) -> dict[str, str]:
    """The demo midwife's ``Authorization`` header: her client, registered on first use.

    Only a key's hash is stored, so each call gives her client a new API key (the previous one
    stops working) — ``make run`` prints it for the curl it suggests.
    """
    with database(settings) as engine:
        clients = ClientStore(engine)
        client = clients.get(DEMO_CLIENT_ID)
        if client is None:
            key = clients.register(
                "R0A", "PROGRAMME_MIDWIFE", DEMO_MIDWIFE_ID, client_id=DEMO_CLIENT_ID
            ).api_key
        elif client.revoked_at is None:
            key = clients.replace_api_key(DEMO_CLIENT_ID)
        else:
            raise RuntimeError(
                f"the demo midwife's client {DEMO_CLIENT_ID} was revoked; register a client "
                "with `hub clients add --organisation R0A --role PROGRAMME_MIDWIFE "
                f"--user {DEMO_MIDWIFE_ID}` to read her alerts"
            )
    return {"Authorization": f"Bearer {key}"}
