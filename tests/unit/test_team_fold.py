"""The team-around-the-family fold: one person's items from each kind of event."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, timedelta

import pytest

from hub.events import CaseEvent, EventType
from hub.payloads import AppointmentAttended
from hub.team.fold import (
    AppointmentItem,
    AppointmentStatus,
    Assessment,
    Birth,
    Closure,
    Demographics,
    Involvement,
    Plan,
    Programme,
    Referral,
    Related,
    TeamState,
    empty_state,
    fold,
    is_upcoming,
)
from hub.vocabulary import AssessmentType, DataCategory, PlanType, PractitionerRole, Relationship
from tests.builders import NHS_NUMBER, T0
from tests.team_builders import (
    BABY_NHS,
    COUNCIL,
    EDD,
    UNBORN_KEY,
    appointment,
    baby_born,
    booked,
    cancelled,
    case_event,
    closed,
    expecting,
    family_story,
    mother_registered,
    no_show,
    plan_ended,
    plan_started,
    practitioner,
    practitioner_ended,
    pre_birth_assessment,
    programme_accepted,
    programme_progress,
    referral,
    rescheduled,
)


def folded(events: Iterable[CaseEvent], key: str = NHS_NUMBER) -> TeamState:
    state = empty_state(key)
    for event in events:
        state, _ = fold(state, event)
    return state


def only(state: TeamState, kind: type) -> list:  # type: ignore[type-arg]
    return [i.body for i in state.items.values() if isinstance(i.body, kind)]


def test_each_item_carries_the_events_category_and_controller() -> None:
    state = folded([mother_registered(), plan_started()])
    by_kind = {i.kind: i for i in state.items.values()}
    assert (by_kind["demographics"].category, by_kind["demographics"].controller) == (
        DataCategory.DEMOGRAPHICS,
        "R0A",
    )
    assert (by_kind["plan"].category, by_kind["plan"].controller) == (
        DataCategory.SAFEGUARDING,
        COUNCIL.organisation_code,
    )


def test_demographics_keep_what_a_later_partial_registration_leaves_out() -> None:
    partial = mother_registered().model_copy(
        update={"payload": mother_registered().payload.model_copy(update={"postcode": None})}
    )
    [demographics] = only(folded([mother_registered(), partial]), Demographics)
    assert demographics == Demographics(
        nhs_number=NHS_NUMBER,
        given_name="Amy",
        family_name="Example",
        birth_date=date(1999, 4, 1),
        postcode="M5 4WT",
    )


def test_a_practitioner_involvement_has_role_organisation_contact_and_since() -> None:
    later = practitioner("mw-1", PractitionerRole.COMMUNITY_MIDWIFE, at=T0 + timedelta(days=3))
    state = folded([later, practitioner("mw-1", PractitionerRole.COMMUNITY_MIDWIFE)])
    [involvement] = only(state, Involvement)
    assert involvement.role is PractitionerRole.COMMUNITY_MIDWIFE
    assert involvement.organisation_code == "R0A"
    assert involvement.contact == "mw-1@example.nhs.uk"
    assert involvement.since == T0  # the earliest assignment, whatever the arrival order


def test_the_same_practitioner_in_two_roles_is_two_involvements() -> None:
    state = folded(
        [
            practitioner("mw-1", PractitionerRole.COMMUNITY_MIDWIFE),
            practitioner("mw-1", PractitionerRole.SAFEGUARDING_MIDWIFE),
        ]
    )
    assert {i.role for i in only(state, Involvement)} == {
        PractitionerRole.COMMUNITY_MIDWIFE,
        PractitionerRole.SAFEGUARDING_MIDWIFE,
    }


@pytest.mark.parametrize(
    ("ending", "ended"),
    [
        (practitioner_ended("mw-1", PractitionerRole.COMMUNITY_MIDWIFE), True),
        (practitioner_ended("mw-1", PractitionerRole.HEALTH_VISITOR), False),  # not held
        (practitioner_ended("mw-1", PractitionerRole.COMMUNITY_MIDWIFE, organisation="RW6"), False),
        (practitioner_ended("mw-2", PractitionerRole.COMMUNITY_MIDWIFE), False),
    ],
)
def test_an_unassignment_ends_only_the_involvement_it_names_and_keeps_it_for_history(
    ending: CaseEvent, ended: bool
) -> None:
    later = ending.model_copy(update={"occurred_at": T0 + timedelta(days=9)})
    state = folded([practitioner("mw-1", PractitionerRole.COMMUNITY_MIDWIFE), later])
    [involvement] = only(state, Involvement)
    assert involvement.since == T0
    assert involvement.active is not ended
    assert involvement.until == (T0 + timedelta(days=9) if ended else None)


def test_a_plan_starts_active_and_ends_kept_for_history() -> None:
    [plan] = only(folded([plan_started()]), Plan)
    assert plan.active
    assert plan.plan_type is PlanType.CHILD_PROTECTION
    [plan] = only(folded([plan_started(), plan_ended()]), Plan)
    assert not plan.active
    assert (plan.started_on, plan.ended_on) == (date(2026, 4, 1), date(2026, 6, 1))


def test_a_plan_end_that_arrives_first_is_not_undone_by_its_start() -> None:
    [plan] = only(folded([plan_ended(), plan_started()]), Plan)
    assert not plan.active
    assert plan.started_on == date(2026, 4, 1)


def test_assessment_referral_and_closure() -> None:
    state = folded([referral(), pre_birth_assessment(), closed()])
    [assessment] = only(state, Assessment)
    assert assessment.assessment_type is AssessmentType.PRE_BIRTH
    assert assessment.factors == ("previous child removed",)
    [received] = only(state, Referral)
    assert (received.service, received.received_at) == ("CSC", T0)
    [closure] = only(state, Closure)
    assert closure.reason == "RC8"


def test_programme_acceptance_then_progress_then_a_pathway_move() -> None:
    state = folded(
        [
            programme_accepted("B"),
            programme_progress(2),
            programme_progress(7, completed=True),
            programme_accepted("C"),
        ]
    )
    [programme] = only(state, Programme)
    assert programme == Programme(
        programme="Strengthening Families",
        referral_id="SF-1",
        pathway="C",
        accepted_on=date(2026, 2, 20),
        sessions_attended=7,
        sessions_planned=7,
        stage="group",
        completed=True,
    )


def test_progress_before_acceptance_is_kept() -> None:
    [programme] = only(folded([programme_progress(1), programme_accepted()]), Programme)
    assert (programme.sessions_attended, programme.pathway) == (1, "B")


def test_a_pregnancy_is_the_unborn_child_relationship_with_its_due_date() -> None:
    [related] = only(folded([expecting()]), Related)
    assert related.relationship is Relationship.UNBORN_CHILD
    assert related.expected_delivery_date == EDD
    assert related.related_keys == (UNBORN_KEY,)
    [item] = folded([expecting()]).items.values()
    assert item.refs() == (UNBORN_KEY,)  # purged if the unborn child's record is erased


def test_a_birth_is_on_the_baby() -> None:
    [birth] = only(folded([baby_born()], key=BABY_NHS), Birth)
    assert birth == Birth(birth_date=date(2026, 9, 18), mother_keys=(NHS_NUMBER,))


@pytest.mark.parametrize(
    ("events", "status"),
    [
        (["booked"], AppointmentStatus.BOOKED),
        (["booked", "missed"], AppointmentStatus.MISSED),
        (["booked", "missed", "booked"], AppointmentStatus.MISSED),  # a re-sent booking
        (["booked", "missed", "rescheduled"], AppointmentStatus.BOOKED),
        (["booked", "cancelled"], AppointmentStatus.CANCELLED),
        (["booked", "attended"], AppointmentStatus.ATTENDED),
        (["missed"], AppointmentStatus.MISSED),  # a no-show with no booking seen
    ],
)
def test_appointment_status_transitions(events: list[str], status: AppointmentStatus) -> None:
    start = T0 + timedelta(days=5)
    made = {
        "booked": booked("APT-1", start),
        "missed": no_show("APT-1", start),
        "rescheduled": rescheduled("APT-1", start + timedelta(days=2)),
        "cancelled": cancelled("APT-1", start),
        "attended": case_event(
            EventType.APPOINTMENT_ATTENDED,
            AppointmentAttended(appointment=appointment("APT-1", start)),
            record_id="APT-1-attended",
            category=DataCategory.APPOINTMENTS,
        ),
    }
    [item] = only(folded(made[e] for e in events), AppointmentItem)
    assert item.status is status


def test_a_reschedule_moves_the_start_and_upcoming_is_decided_by_the_reader_clock() -> None:
    start = T0 + timedelta(days=5)
    state = folded([booked("APT-1", start), rescheduled("APT-1", start + timedelta(days=2))])
    [item] = state.items.values()
    assert isinstance(item.body, AppointmentItem)
    assert item.body.start == start + timedelta(days=2)
    assert is_upcoming(item, T0)
    assert not is_upcoming(item, start + timedelta(days=3))


def test_the_same_event_twice_changes_nothing() -> None:
    for event in family_story(T0):
        state = folded([event])
        again, changes = fold(state, event)
        assert changes == [], event.event_type
        assert again == state


def test_a_replay_rebuilds_the_same_state() -> None:
    events = [*family_story(T0), plan_ended(), programme_progress(3)]
    assert folded(events) == folded(events)
    assert len(folded(events).items) == 9


def test_events_the_view_does_not_use_change_nothing() -> None:
    from tests.builders import consented

    state, changes = fold(empty_state(NHS_NUMBER), consented())
    assert (state.items, changes) == ({}, [])


def test_an_event_about_someone_else_is_refused() -> None:
    with pytest.raises(ValueError, match="is about"):
        fold(empty_state("someone-else"), mother_registered())
