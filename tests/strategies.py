"""Hypothesis strategies for the case-event contract (shared by unit and property tests)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone

from hypothesis import strategies as st

from hub.events import PAYLOAD_TYPES, CaseEvent, EventType
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
    AssessmentCompleted,
    AssessmentScoreRecorded,
    BirthRegistered,
    CaseClosed,
    CharacteristicRecord,
    CharacteristicsRecorded,
    ConsentRecorded,
    ConsentWithdrawn,
    PermanenceRecorded,
    PersonIdentifier,
    PersonMerged,
    PersonRegistered,
    PersonUnmerged,
    PlanEnded,
    PlanStarted,
    PractitionerAssigned,
    PractitionerUnassigned,
    ProgrammeActivityRecorded,
    ProgrammeExited,
    ProgrammePathwayChanged,
    ProgrammeProgress,
    ProgrammeReferralAccepted,
    ProgrammeReferralDeclined,
    ReferralReceived,
    RelationshipRecorded,
    SafeguardingOverrideEnded,
    SafeguardingOverrideRecorded,
    Source,
)
from hub.quarantine import QuarantineError, QuarantineRecord
from hub.vocabulary import (
    AssessmentType,
    AssignmentScope,
    Characteristic,
    DataCategory,
    EthnicCategory,
    ExitReason,
    LawfulBasis,
    OverrideReason,
    PermanenceOutcome,
    PlanType,
    PractitionerRole,
    ProgrammeActivity,
    Purpose,
    Relationship,
    ScoreInstrument,
    ScoreStage,
    Sensitivity,
)

no_surrogates = st.characters(exclude_categories=["Cs"])  # Avro strings are UTF-8
text = st.text(no_surrogates, max_size=30)
non_empty = st.text(no_surrogates, min_size=1, max_size=30)
offsets = st.sampled_from([UTC, timezone(timedelta(hours=1)), timezone(timedelta(hours=-5))])
moments = st.datetimes(
    min_value=datetime(1900, 1, 1), max_value=datetime(2200, 1, 1), timezones=offsets
)
days = st.dates(min_value=date(1900, 1, 1), max_value=date(2200, 1, 1))

identifiers = st.builds(PersonIdentifier, system=non_empty, value=non_empty)
categories_tuples = st.lists(st.sampled_from(DataCategory), min_size=1, max_size=3).map(tuple)

appointments = st.builds(
    Appointment,
    appointment_id=non_empty,
    start=moments,
    end=st.none() | moments,
    service_type=st.none() | text,
    description=st.none() | text,
    location=st.none() | text,
    practitioner_ids=st.lists(non_empty, max_size=3).map(tuple),
)

payloads: dict[EventType, st.SearchStrategy[object]] = {
    EventType.PERSON_REGISTERED: st.builds(
        PersonRegistered,
        given_name=st.none() | text,
        family_name=st.none() | text,
        birth_date=st.none() | days,
        postcode=st.none() | text,
    ),
    EventType.APPOINTMENT_BOOKED: st.builds(AppointmentBooked, appointment=appointments),
    EventType.APPOINTMENT_CANCELLED: st.builds(
        AppointmentCancelled, appointment=appointments, reason=st.none() | text
    ),
    EventType.APPOINTMENT_ATTENDED: st.builds(AppointmentAttended, appointment=appointments),
    EventType.APPOINTMENT_MISSED: st.builds(
        AppointmentMissed, appointment=appointments, inferred=st.booleans()
    ),
    EventType.PRACTITIONER_ASSIGNED: st.builds(
        PractitionerAssigned,
        practitioner_id=non_empty,
        name=text,
        role=st.sampled_from(PractitionerRole),
        organisation_code=text,
        contact=st.none() | text,
        scope=st.sampled_from(AssignmentScope),
    ),
    EventType.APPOINTMENT_RESCHEDULED: st.builds(
        AppointmentRescheduled, appointment=appointments, previous_start=st.none() | moments
    ),
    EventType.APPOINTMENT_MODIFIED: st.builds(AppointmentModified, appointment=appointments),
    EventType.PERSON_MERGED: st.builds(
        PersonMerged,
        merged=st.lists(
            st.builds(PersonIdentifier, system=non_empty, value=non_empty), max_size=3
        ).map(tuple),
    ),
    EventType.PERSON_UNMERGED: st.builds(
        PersonUnmerged, separated=st.lists(identifiers, max_size=3).map(tuple)
    ),
    EventType.RELATIONSHIP_RECORDED: st.builds(
        RelationshipRecorded,
        related=st.lists(identifiers, min_size=1, max_size=2).map(tuple),
        relationship=st.sampled_from(Relationship),
        expected_delivery_date=st.none() | days,
    ),
    EventType.BIRTH_REGISTERED: st.builds(
        BirthRegistered,
        mother=st.lists(identifiers, min_size=1, max_size=2).map(tuple),
        birth_date=days,
    ),
    EventType.CONSENT_RECORDED: st.builds(
        ConsentRecorded,
        consent_id=non_empty,
        recipients=st.lists(non_empty, min_size=1, max_size=3).map(tuple),
        categories=categories_tuples,
        purposes=st.lists(st.sampled_from(Purpose), min_size=1, max_size=3).map(tuple),
        recorded_by=non_empty,
        expires_at=st.none() | moments,
    ),
    EventType.CONSENT_WITHDRAWN: st.builds(
        ConsentWithdrawn,
        consent_id=st.none() | non_empty,
        recipients=st.lists(non_empty, max_size=3).map(tuple),
        categories=st.lists(st.sampled_from(DataCategory), max_size=3).map(tuple),
        recorded_by=non_empty,
    ),
    EventType.SAFEGUARDING_OVERRIDE_RECORDED: st.builds(
        SafeguardingOverrideRecorded,
        override_id=non_empty,
        recorded_by=non_empty,
        recorded_by_organisation=non_empty,
        reason_code=st.sampled_from(OverrideReason),
        reason=st.none() | text,
        recipients=st.lists(non_empty, min_size=1, max_size=3).map(tuple),
        categories=categories_tuples,
        expires_at=moments,
    ),
    EventType.SAFEGUARDING_OVERRIDE_ENDED: st.builds(
        SafeguardingOverrideEnded, override_id=non_empty, ended_by=non_empty
    ),
    EventType.REFERRAL_RECEIVED: st.builds(
        ReferralReceived,
        referral_id=non_empty,
        service=non_empty,
        referral_source=st.none() | text,
        primary_need=st.none() | text,
        pathway=st.none() | text,
        expected_delivery_date=st.none() | days,
    ),
    EventType.ASSESSMENT_COMPLETED: st.builds(
        AssessmentCompleted,
        assessment_id=non_empty,
        assessment_type=st.sampled_from(AssessmentType),
        started_on=st.none() | days,
        completed_on=days,
        factors=st.lists(non_empty, max_size=3).map(tuple),
    ),
    EventType.PLAN_STARTED: st.builds(
        PlanStarted,
        plan_id=non_empty,
        plan_type=st.sampled_from(PlanType),
        started_on=days,
        category=st.none() | text,
    ),
    EventType.PLAN_ENDED: st.builds(
        PlanEnded,
        plan_id=non_empty,
        plan_type=st.sampled_from(PlanType),
        ended_on=days,
        reason=st.none() | text,
    ),
    EventType.CASE_CLOSED: st.builds(
        CaseClosed, case_id=non_empty, closed_on=days, reason=st.none() | text
    ),
    EventType.PROGRAMME_REFERRAL_ACCEPTED: st.builds(
        ProgrammeReferralAccepted,
        referral_id=non_empty,
        programme=non_empty,
        pathway=st.none() | text,
        accepted_on=days,
    ),
    EventType.PROGRAMME_PROGRESS: st.builds(
        ProgrammeProgress,
        programme=non_empty,
        sessions_attended=st.integers(0, 2**31 - 1),
        sessions_planned=st.none() | st.integers(0, 2**31 - 1),
        stage=st.none() | text,
        completed=st.booleans(),
        referral_id=st.none() | non_empty,
    ),
    EventType.ASSESSMENT_SCORE_RECORDED: st.builds(
        AssessmentScoreRecorded,
        instrument=st.sampled_from(ScoreInstrument),
        score=st.integers(-(2**31), 2**31 - 1),
        measured_on=days,
        respondent=st.none() | text,
        stage=st.none() | st.sampled_from(ScoreStage),
        programme=st.none() | non_empty,
    ),
    EventType.ALERT_ACKNOWLEDGED: st.builds(
        AlertAcknowledged, alert_id=st.uuids(), by=non_empty, note=st.none() | text
    ),
    EventType.ALERT_CLOSED: st.builds(
        AlertClosed, alert_id=st.uuids(), by=non_empty, reason=non_empty
    ),
    EventType.ALERT_ESCALATED: st.builds(AlertEscalated, alert_id=st.uuids(), reason=non_empty),
    EventType.PRACTITIONER_UNASSIGNED: st.builds(
        PractitionerUnassigned,
        practitioner_id=non_empty,
        organisation_code=non_empty,
        role=st.sampled_from(PractitionerRole),
        scope=st.sampled_from(AssignmentScope),
        reason=st.none() | text,
    ),
    EventType.CHARACTERISTICS_RECORDED: st.builds(
        CharacteristicsRecorded,
        referral_id=st.none() | non_empty,
        recorded_on=days,
        member=st.none() | text,
        characteristics=st.lists(
            st.builds(
                CharacteristicRecord,
                characteristic=st.sampled_from(Characteristic),
                lawful_basis=st.sampled_from(LawfulBasis),
            ),
            max_size=3,
        ).map(tuple),
        risk_factors=st.lists(non_empty, max_size=3).map(tuple),
        strengths=st.lists(non_empty, max_size=3).map(tuple),
        ethnicity=st.none(),
        ethnicity_basis=st.none() | st.sampled_from(LawfulBasis),
    )
    | st.builds(
        CharacteristicsRecorded,
        recorded_on=days,
        ethnicity=st.sampled_from(EthnicCategory),
        ethnicity_basis=st.sampled_from(LawfulBasis),
    ),
    EventType.PROGRAMME_REFERRAL_DECLINED: st.builds(
        ProgrammeReferralDeclined,
        referral_id=non_empty,
        programme=non_empty,
        declined_on=days,
        declined_by=st.none() | text,
        reason=st.none() | text,
    ),
    EventType.PROGRAMME_PATHWAY_CHANGED: st.builds(
        ProgrammePathwayChanged,
        referral_id=non_empty,
        programme=non_empty,
        from_pathway=st.none() | text,
        to_pathway=non_empty,
        changed_on=days,
    ),
    EventType.PROGRAMME_ACTIVITY_RECORDED: st.builds(
        ProgrammeActivityRecorded,
        referral_id=non_empty,
        programme=non_empty,
        activity=st.sampled_from(ProgrammeActivity),
        occurred_on=days,
    ),
    EventType.PROGRAMME_EXITED: st.builds(
        ProgrammeExited,
        referral_id=non_empty,
        programme=non_empty,
        exited_on=days,
        reason=st.sampled_from(ExitReason),
        detail=st.none() | text,
    ),
    EventType.PERMANENCE_RECORDED: st.builds(
        PermanenceRecorded,
        outcome=st.sampled_from(PermanenceOutcome),
        recorded_on=days,
        plan_id=st.none() | non_empty,
    ),
}
assert set(payloads) == set(PAYLOAD_TYPES)


@st.composite
def case_events(draw: st.DrawFn, event_type: EventType | None = None) -> CaseEvent:
    kind = event_type or draw(st.sampled_from(EventType))
    return CaseEvent(
        event_id=draw(st.uuids()),
        event_type=kind,
        occurred_at=draw(moments),
        recorded_at=draw(moments),
        source=draw(st.builds(Source, system=non_empty, organisation_code=non_empty)),
        source_record_id=draw(non_empty),
        subject=tuple(
            draw(
                st.lists(
                    st.builds(PersonIdentifier, system=non_empty, value=non_empty),
                    min_size=1,
                    max_size=3,
                )
            )
        ),
        family_key=draw(st.none() | non_empty),
        data_category=draw(st.sampled_from(DataCategory)),
        sensitivity=draw(st.sampled_from(Sensitivity)),
        payload=draw(payloads[kind]),
    )


quarantine_records = st.builds(
    QuarantineRecord,
    quarantine_id=st.uuids(),
    received_at=moments,
    channel=non_empty,
    source_system=st.none() | text,
    content_type=st.none() | text,
    raw=st.binary(max_size=200),
    reason=text,
    errors=st.lists(st.builds(QuarantineError, location=text, message=text), max_size=3).map(tuple),
)
