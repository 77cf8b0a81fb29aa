"""Demo data: the Salford story from ``docs/domain`` as case-events, and Newport's Baby and Me
(:mod:`hub.processes.demo_newport`, through the real connectors), so ``make run`` has an alert
to show in England and one in Wales.

A mother referred to Strengthening Families at 11 weeks has a programme midwife assigned, her
16-week antenatal appointment booked, and then missed. The worker turns the no-show into an
alert for the midwife. Ids are deterministic, so loading the demo twice changes nothing.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from hub.auth.store import ClientStore
from hub.bootstrap import database, publishing, sources_of
from hub.events import CaseEvent, EventType, deterministic_event_id
from hub.payloads import (
    NHS_NUMBER_SYSTEM,
    Appointment,
    AppointmentBooked,
    AppointmentMissed,
    Payload,
    PersonIdentifier,
    PersonRegistered,
    PractitionerAssigned,
    Source,
)
from hub.processes.demo_newport import NEWPORT_CLIENT_ID, NEWPORT_MIDWIFE, newport_events
from hub.settings import Settings
from hub.vocabulary import AssignmentScope, DataCategory, PractitionerRole, Sensitivity

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
    """Publish both stories durably (Newport's HL7 read with the configured sources, as the
    MLLP listener reads it); returns one line per event for the user."""
    day = today or date.today()
    sources = sources_of(settings)
    lines = []
    with publishing(settings, "hub-demo") as sink:
        for event in [*demo_events(day), *newport_events(day, sources)]:
            delivery = sink.publish_sync(event)
            where = event.source.organisation_code
            lines.append(
                f"{where:<19} {event.event_type.value:<27} -> "
                f"{delivery.topic}[{delivery.partition}]"
            )
    return lines


def demo_reader(settings: Settings) -> dict[str, str]:
    """The demo midwife's ``Authorization`` header: her client, registered on first use.

    Only a key's hash is stored, so each call gives her client a new API key (the previous one
    stops working) — ``make run`` prints it for the curl it suggests.
    """
    return _reader(settings, DEMO_CLIENT_ID, ("R0A", "PROGRAMME_MIDWIFE", DEMO_MIDWIFE_ID))


def newport_reader(settings: Settings) -> dict[str, str]:
    """The Newport demo's midwife (Aneurin Bevan, 7A6): her header, as :func:`demo_reader`."""
    return _reader(settings, NEWPORT_CLIENT_ID, NEWPORT_MIDWIFE)


def _reader(settings: Settings, client_id: str, who: tuple[str, str, str]) -> dict[str, str]:
    organisation, role, user = who
    with database(settings) as engine:
        clients = ClientStore(engine)
        client = clients.get(client_id)
        if client is None:
            key = clients.register(organisation, role, user, client_id=client_id).api_key
        elif client.revoked_at is None:
            key = clients.replace_api_key(client_id)
        else:
            raise RuntimeError(
                f"the demo client {client_id} was revoked; register a client with `hub clients "
                f"add --organisation {organisation} --role {role} --user {user}` to read the "
                "alerts"
            )
    return {"Authorization": f"Bearer {key}"}
