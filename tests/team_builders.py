"""Builders for the team-around-the-family tests: a Salford pathway-B family, one fact a line.

Each event carries the data category and source a real connector would give it (the gate
decides on those), unlike ``tests.builders.event``'s appointment defaults.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta

from hub.events import CaseEvent, EventType, deterministic_event_id
from hub.payloads import (
    NHS_NUMBER_SYSTEM,
    Appointment,
    AppointmentBooked,
    AppointmentCancelled,
    AppointmentMissed,
    AppointmentRescheduled,
    AssessmentCompleted,
    BirthRegistered,
    CaseClosed,
    Payload,
    PersonIdentifier,
    PersonRegistered,
    PlanEnded,
    PlanStarted,
    PractitionerAssigned,
    PractitionerUnassigned,
    ProgrammeProgress,
    ProgrammeReferralAccepted,
    ReferralReceived,
    RelationshipRecorded,
    Source,
)
from hub.vocabulary import (
    AssessmentType,
    AssignmentScope,
    DataCategory,
    PlanType,
    PractitionerRole,
    Relationship,
    Sensitivity,
)
from tests.builders import NHS_NUMBER, SALFORD_COUNCIL, T0

TRUST = Source(system="mft-maternity", organisation_code="R0A")
COUNCIL = Source(system="salford-liquidlogic", organisation_code=SALFORD_COUNCIL)
HOME_START_SOURCE = Source(system="homestart-charitylog", organisation_code="VCS-HOMESTART-SALFORD")
UNBORN = PersonIdentifier(system="urn:council:355:unborn", value="U-1")
UNBORN_KEY = UNBORN.key()
BABY_NHS = "4010232137"
EDD = date(2026, 9, 20)


def case_event(
    event_type: EventType,
    payload: Payload,
    *,
    record_id: str,
    category: DataCategory,
    source: Source = TRUST,
    at: datetime = T0,
    subject: tuple[PersonIdentifier, ...] | None = None,
    sensitivity: Sensitivity = Sensitivity.ROUTINE,
) -> CaseEvent:
    return CaseEvent(
        event_id=deterministic_event_id("taf-test", source.system, event_type, record_id),
        event_type=event_type,
        occurred_at=at,
        recorded_at=at + timedelta(minutes=1),
        source=source,
        source_record_id=record_id,
        subject=subject or (PersonIdentifier(system=NHS_NUMBER_SYSTEM, value=NHS_NUMBER),),
        data_category=category,
        sensitivity=sensitivity,
        payload=payload,
    )


def mother_registered(**kwargs: object) -> CaseEvent:
    return case_event(
        EventType.PERSON_REGISTERED,
        PersonRegistered(
            given_name="Amy", family_name="Example", birth_date=date(1999, 4, 1), postcode="M5 4WT"
        ),
        record_id="pat-amy",
        category=DataCategory.DEMOGRAPHICS,
        **kwargs,  # type: ignore[arg-type]
    )


def expecting(edd: date = EDD) -> CaseEvent:
    return case_event(
        EventType.RELATIONSHIP_RECORDED,
        RelationshipRecorded(
            related=(UNBORN,), relationship=Relationship.UNBORN_CHILD, expected_delivery_date=edd
        ),
        record_id="rel-unborn",
        category=DataCategory.MATERNITY,
    )


def practitioner(
    practitioner_id: str,
    role: PractitionerRole,
    *,
    organisation: str = "R0A",
    source: Source = TRUST,
    at: datetime = T0,
) -> CaseEvent:
    return case_event(
        EventType.PRACTITIONER_ASSIGNED,
        PractitionerAssigned(
            practitioner_id=practitioner_id,
            name=f"Practitioner {practitioner_id}",
            role=role,
            organisation_code=organisation,
            contact=f"{practitioner_id}@example.nhs.uk",
            scope=AssignmentScope.FAMILY,
        ),
        record_id=f"assign-{practitioner_id}-{role}",
        category=DataCategory.PRACTITIONER_ALLOCATION,
        source=source,
        at=at,
    )


def practitioner_ended(
    practitioner_id: str,
    role: PractitionerRole,
    *,
    organisation: str = "R0A",
    source: Source = TRUST,
    at: datetime = T0,
) -> CaseEvent:
    return case_event(
        EventType.PRACTITIONER_UNASSIGNED,
        PractitionerUnassigned(
            practitioner_id=practitioner_id,
            organisation_code=organisation,
            role=role,
            scope=AssignmentScope.FAMILY,
        ),
        record_id=f"unassign-{practitioner_id}-{role}",
        category=DataCategory.PRACTITIONER_ALLOCATION,
        source=source,
        at=at,
    )


def plan_started(
    plan_type: PlanType = PlanType.CHILD_PROTECTION,
    *,
    plan_id: str = "CP-1",
    category: DataCategory = DataCategory.SAFEGUARDING,
) -> CaseEvent:
    return case_event(
        EventType.PLAN_STARTED,
        PlanStarted(plan_id=plan_id, plan_type=plan_type, started_on=date(2026, 4, 1)),
        record_id=f"{plan_id}-start",
        category=category,
        source=COUNCIL,
        sensitivity=Sensitivity.SPECIAL_CATEGORY,
    )


def plan_ended(
    plan_type: PlanType = PlanType.CHILD_PROTECTION,
    *,
    plan_id: str = "CP-1",
    category: DataCategory = DataCategory.SAFEGUARDING,
) -> CaseEvent:
    return case_event(
        EventType.PLAN_ENDED,
        PlanEnded(plan_id=plan_id, plan_type=plan_type, ended_on=date(2026, 6, 1)),
        record_id=f"{plan_id}-end",
        category=category,
        source=COUNCIL,
    )


def pre_birth_assessment() -> CaseEvent:
    return case_event(
        EventType.ASSESSMENT_COMPLETED,
        AssessmentCompleted(
            assessment_id="PBA-1",
            assessment_type=AssessmentType.PRE_BIRTH,
            completed_on=date(2026, 3, 20),
            factors=("previous child removed",),
        ),
        record_id="PBA-1",
        category=DataCategory.SOCIAL_CARE_PLANS,
        source=COUNCIL,
    )


def referral() -> CaseEvent:
    return case_event(
        EventType.REFERRAL_RECEIVED,
        ReferralReceived(referral_id="REF-1", service="CSC", referral_source="GP"),
        record_id="REF-1",
        category=DataCategory.SOCIAL_CARE_PLANS,
        source=COUNCIL,
    )


def closed() -> CaseEvent:
    return case_event(
        EventType.CASE_CLOSED,
        CaseClosed(case_id="CASE-1", closed_on=date(2026, 8, 1), reason="RC8"),
        record_id="CASE-1-closed",
        category=DataCategory.SOCIAL_CARE_PLANS,
        source=COUNCIL,
    )


def programme_accepted(pathway: str = "B") -> CaseEvent:
    return case_event(
        EventType.PROGRAMME_REFERRAL_ACCEPTED,
        ProgrammeReferralAccepted(
            referral_id="SF-1",
            programme="Strengthening Families",
            pathway=pathway,
            accepted_on=date(2026, 2, 20),
        ),
        record_id=f"SF-1-{pathway}",
        category=DataCategory.MATERNITY,
        source=COUNCIL,
    )


def programme_progress(sessions: int, *, completed: bool = False) -> CaseEvent:
    return case_event(
        EventType.PROGRAMME_PROGRESS,
        ProgrammeProgress(
            programme="Strengthening Families",
            sessions_attended=sessions,
            sessions_planned=7,
            stage="group",
            completed=completed,
        ),
        record_id=f"SF-1-progress-{sessions}",
        category=DataCategory.MATERNITY,
        source=COUNCIL,
    )


def appointment(appointment_id: str, start: datetime) -> Appointment:
    return Appointment(appointment_id=appointment_id, start=start, service_type="antenatal")


def booked(appointment_id: str, start: datetime) -> CaseEvent:
    return case_event(
        EventType.APPOINTMENT_BOOKED,
        AppointmentBooked(appointment=appointment(appointment_id, start)),
        record_id=f"{appointment_id}-booked",
        category=DataCategory.APPOINTMENTS,
    )


def rescheduled(appointment_id: str, start: datetime) -> CaseEvent:
    return case_event(
        EventType.APPOINTMENT_RESCHEDULED,
        AppointmentRescheduled(appointment=appointment(appointment_id, start)),
        record_id=f"{appointment_id}-rescheduled-{start.isoformat()}",
        category=DataCategory.APPOINTMENTS,
    )


def cancelled(appointment_id: str, start: datetime) -> CaseEvent:
    return case_event(
        EventType.APPOINTMENT_CANCELLED,
        AppointmentCancelled(appointment=appointment(appointment_id, start)),
        record_id=f"{appointment_id}-cancelled",
        category=DataCategory.APPOINTMENTS,
    )


def no_show(appointment_id: str, start: datetime) -> CaseEvent:
    return case_event(
        EventType.APPOINTMENT_MISSED,
        AppointmentMissed(appointment=appointment(appointment_id, start)),
        record_id=f"{appointment_id}-missed",
        category=DataCategory.APPOINTMENTS,
    )


def baby_born(born: date = date(2026, 9, 18)) -> CaseEvent:
    return case_event(
        EventType.BIRTH_REGISTERED,
        BirthRegistered(
            mother=(PersonIdentifier(system=NHS_NUMBER_SYSTEM, value=NHS_NUMBER),),
            birth_date=born,
        ),
        record_id="birth-1",
        category=DataCategory.MATERNITY,
        subject=(PersonIdentifier(system=NHS_NUMBER_SYSTEM, value=BABY_NHS),),
    )


def family_story(now: datetime) -> list[CaseEvent]:
    """The mother's record in the Salford story: what the team view is built from."""
    return [
        mother_registered(),
        expecting(),
        practitioner("mw-1", PractitionerRole.COMMUNITY_MIDWIFE),
        practitioner(
            "lp-1", PractitionerRole.LEAD_PRACTITIONER, organisation=SALFORD_COUNCIL, source=COUNCIL
        ),
        pre_birth_assessment(),
        plan_started(),
        programme_accepted(),
        booked("APT-20W", now + timedelta(days=7)),
        no_show("APT-16W", now - timedelta(days=1)),
    ]
