"""The missed-appointment fold and its timers, called directly: no Kafka, no SQL, no clock."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import timedelta

import pytest

from hub.alerts.fold import HUB_USER, alert_id_for, fold
from hub.alerts.state import (
    Alert,
    AlertSaved,
    AlertStatus,
    AppointmentOutcome,
    Effect,
    FamilyState,
    MemberAssigned,
    MemberUnassigned,
    PersonUpdated,
    Rules,
    empty_state,
)
from hub.alerts.timers import inferred_no_shows, unacknowledged_escalations
from hub.events import CaseEvent, EventType
from hub.payloads import AppointmentBooked, AppointmentMissed
from hub.vocabulary import PractitionerRole
from tests.builders import (
    NHS_NUMBER,
    T0,
    TRUST,
    acknowledged,
    appointment,
    assigned,
    attended,
    booked,
    cancelled,
    closed,
    escalated,
    missed,
    modified,
    ref,
    refs,
    registered,
    rescheduled,
    unassigned,
)
from tests.builders import event as case_event

FAMILY = "family-1"
BABY = "4010232137"
RULES = Rules(safeguarding_leads={"R0A": "r0a-named-midwife-safeguarding"})
APT1 = alert_id_for(TRUST, "APT-1")


def run(
    events: Iterable[CaseEvent], rules: Rules = RULES, state: FamilyState | None = None
) -> tuple[FamilyState, list[Effect]]:
    state, effects = state or empty_state(FAMILY), list[Effect]()
    for event in events:
        state, new = fold(state, event, rules)
        effects.extend(new)
    return state, effects


def only_alert(state: FamilyState) -> Alert:
    (alert,) = state.alerts.values()
    return alert


def raised(effects: list[Effect]) -> list[Alert]:
    return [e.alert for e in effects if isinstance(e, AlertSaved) and e.change == "raised"]


# -- who hears ---------------------------------------------------------------------------------


def test_a_missed_appointment_is_addressed_to_the_assigned_midwife() -> None:
    state, effects = run([assigned("mw-1"), missed("APT-1")])
    (alert,) = raised(effects)
    assert alert.recipients == refs("mw-1")
    assert alert.appointment.appointment_id == "APT-1"
    assert alert.alert_id == APT1
    assert only_alert(state).status is AlertStatus.OPEN


@pytest.mark.parametrize(
    "role",
    [
        PractitionerRole.COMMUNITY_MIDWIFE,
        PractitionerRole.PROGRAMME_MIDWIFE,
        PractitionerRole.SPECIALIST_MIDWIFE,
        PractitionerRole.LEAD_PRACTITIONER,
        PractitionerRole.KEY_WORKER,
    ],
)
def test_midwives_lead_practitioner_and_key_worker_are_addressed(role: PractitionerRole) -> None:
    state, _ = run([assigned("p-1", role), missed()])
    assert only_alert(state).recipients == refs("p-1")


@pytest.mark.parametrize(
    "role",
    [PractitionerRole.SOCIAL_WORKER, PractitionerRole.GP, PractitionerRole.SAFEGUARDING_MIDWIFE],
)
def test_other_roles_are_not_addressed_routinely(role: PractitionerRole) -> None:
    state, effects = run([assigned("p-1", role), missed()])
    assert any(isinstance(e, MemberAssigned) for e in effects)  # in the team, all the same
    assert only_alert(state).recipients == frozenset()


def test_the_familys_midwife_hears_of_a_missed_appointment_of_the_baby() -> None:
    state, _ = run([assigned("mw-1"), missed("HV-CHECK", nhs_number=BABY)])
    alert = only_alert(state)
    assert (alert.subject_key, alert.recipients) == (BABY, refs("mw-1"))


def test_an_alert_raised_before_anyone_is_assigned_is_routed_at_assignment() -> None:
    state, effects = run([missed("APT-1"), assigned("mw-9")])
    assert [e.change for e in effects if isinstance(e, AlertSaved)] == ["raised", "routed"]
    assert only_alert(state).recipients == refs("mw-9")


def test_a_second_midwife_joins_open_alerts_but_not_closed_ones() -> None:
    state, _ = run([assigned("mw-1"), missed("APT-1"), closed(APT1), missed("APT-2")])
    state, _ = run([assigned("mw-2")], state=state)
    by_id = {a.appointment.appointment_id: a for a in state.alerts.values()}
    assert by_id["APT-1"].recipients == refs("mw-1")
    assert by_id["APT-2"].recipients == refs("mw-1", "mw-2")


def test_reassigning_the_same_midwife_changes_nothing() -> None:
    state, _ = run([assigned("mw-1"), missed()])
    again, effects = fold(state, assigned("mw-1"), RULES)
    assert (effects, again) == ([], state)


# -- one alert per appointment -----------------------------------------------------------------


def test_a_resent_no_show_raises_no_second_alert() -> None:
    first = missed("APT-1")
    state, effects = run([assigned(), first, first, missed("APT-1")])
    assert len(raised(effects)) == 1
    assert len(state.alerts) == 1


def test_an_inferred_and_an_explicit_no_show_of_one_appointment_are_one_alert() -> None:
    state, _ = run([assigned(), booked("APT-1")])
    (inferred,) = inferred_no_shows(state.bookings.values(), T0 + timedelta(hours=1))
    state, effects = run([inferred, missed("APT-1")], state=state)
    (alert,) = raised(effects)
    assert alert.inferred
    assert len(state.alerts) == 1


def test_each_missed_appointment_gets_its_own_alert() -> None:
    state, _ = run([assigned(), missed("APT-1"), missed("APT-2")])
    assert len(state.alerts) == 2


# -- bookings and the no-show timer -------------------------------------------------------------


def test_a_booking_is_due_at_its_start_plus_the_grace_period() -> None:
    state, _ = run([booked("APT-1", T0)], rules=Rules(grace=timedelta(minutes=45)))
    booking = state.bookings[APT1]
    assert (booking.due_at, booking.outcome) == (T0 + timedelta(minutes=45), None)


@pytest.mark.parametrize(
    ("outcome_event", "outcome"),
    [
        (attended("APT-1"), AppointmentOutcome.ATTENDED),
        (cancelled("APT-1"), AppointmentOutcome.CANCELLED),
        (missed("APT-1"), AppointmentOutcome.MISSED),
    ],
)
def test_an_outcome_stops_the_timer(outcome_event: CaseEvent, outcome: AppointmentOutcome) -> None:
    state, _ = run([booked("APT-1"), outcome_event])
    assert state.bookings[APT1].outcome is outcome
    assert inferred_no_shows(state.bookings.values(), T0 + timedelta(days=1)) == []


def test_a_reschedule_moves_the_due_time_and_awaits_a_new_outcome() -> None:
    later = T0 + timedelta(days=7)
    state, _ = run([booked("APT-1"), cancelled("APT-1"), rescheduled("APT-1", later)])
    booking = state.bookings[APT1]
    assert (booking.due_at, booking.outcome) == (later + RULES.grace, None)
    assert inferred_no_shows(state.bookings.values(), later) == []
    assert len(inferred_no_shows(state.bookings.values(), later + RULES.grace)) == 1


def test_a_modification_keeps_the_outcome() -> None:
    state, _ = run([booked("APT-1"), attended("APT-1"), modified("APT-1", T0 + timedelta(hours=1))])
    assert state.bookings[APT1].outcome is AppointmentOutcome.ATTENDED


def test_the_timer_fires_only_once_the_grace_period_has_passed() -> None:
    state, _ = run([booked("APT-1", T0)])
    assert inferred_no_shows(state.bookings.values(), T0 + RULES.grace - timedelta(seconds=1)) == []
    (event,) = inferred_no_shows(state.bookings.values(), T0 + RULES.grace)
    again = inferred_no_shows(state.bookings.values(), T0 + timedelta(days=3))
    assert event.event_id == again[0].event_id  # a second sweep publishes the same event
    assert (event.occurred_at, event.source) == (T0 + RULES.grace, TRUST)


def test_an_attendance_after_an_alert_closes_it() -> None:
    state, effects = run([assigned(), booked("APT-1"), missed("APT-1"), attended("APT-1")])
    alert = only_alert(state)
    assert (alert.status, alert.closed_by) == (AlertStatus.CLOSED, HUB_USER)
    assert "attendance recorded" in (alert.close_reason or "")
    assert [e.change for e in effects if isinstance(e, AlertSaved)] == ["raised", "closed"]


def test_attendance_alone_raises_nothing() -> None:
    state, effects = run([assigned(), attended()])
    assert [type(e) for e in effects] == [MemberAssigned]
    assert state.alerts == {}


# -- escalation ----------------------------------------------------------------------------------


def test_the_second_miss_within_the_window_escalates_to_the_safeguarding_midwife() -> None:
    _, effects = run(
        [
            assigned("mw-1"),
            assigned("smw-1", PractitionerRole.SAFEGUARDING_MIDWIFE),
            missed("APT-1", at=T0),
            missed("APT-2", at=T0 + timedelta(days=27)),
        ]
    )
    first, second = raised(effects)
    assert first.escalated_at is None
    assert second.escalated_to == refs("smw-1")
    assert second.escalation_reason == "2 appointments missed within 28 days"
    assert second.escalated_at == T0 + timedelta(days=27)


def test_a_mother_and_baby_missing_one_each_count_as_the_familys_two() -> None:
    _, effects = run([missed("APT-1"), missed("HV-1", nhs_number=BABY, at=T0 + timedelta(days=1))])
    assert raised(effects)[1].escalation_reason == "2 appointments missed within 28 days"


def test_misses_further_apart_than_the_window_do_not_escalate() -> None:
    _, effects = run([missed("APT-1", at=T0), missed("APT-2", at=T0 + timedelta(days=29))])
    assert [a.escalated_at for a in raised(effects)] == [None, None]


def test_with_no_safeguarding_midwife_escalation_goes_to_the_organisations_lead() -> None:
    rules = Rules(escalate_after_missed=1, safeguarding_leads={"R0A": "r0a-lead"})
    state, _ = run([missed("APT-1")], rules=rules)
    assert only_alert(state).escalated_to == refs("r0a-lead")
    state, _ = run([assigned("smw-1", PractitionerRole.SAFEGUARDING_MIDWIFE)], rules, state)
    assert only_alert(state).escalated_to == refs(
        "r0a-lead", "smw-1"
    )  # whoever was told stays told


def test_an_unacknowledged_alert_is_escalated_by_the_timer() -> None:
    state, _ = run([assigned("mw-1"), missed("APT-1")])
    alert = only_alert(state)
    limit = alert.raised_at + RULES.escalate_unacknowledged_after
    assert unacknowledged_escalations([alert], limit - timedelta(seconds=1), RULES) == []
    (event,) = unacknowledged_escalations([alert], limit, RULES)
    state, _ = run([event], state=state)
    alert = only_alert(state)
    assert alert.escalated_to == refs("r0a-named-midwife-safeguarding")
    assert alert.escalation_reason == "not acknowledged within 24 hours of being raised"


def test_an_acknowledged_alert_is_not_escalated() -> None:
    state, _ = run([assigned("mw-1"), missed("APT-1"), acknowledged(APT1), escalated(APT1)])
    assert only_alert(state).escalated_at is None


# -- acknowledge and close -----------------------------------------------------------------------


def test_acknowledge_then_close_records_who_and_when() -> None:
    at = T0 + timedelta(hours=2)
    state, _ = run([assigned("mw-1"), missed("APT-1")])
    state, _ = run([acknowledged(APT1, "mw-1", at=at)], state=state)
    alert = only_alert(state)
    assert (alert.status, alert.acknowledged_by, alert.acknowledged_at) == (
        AlertStatus.ACKNOWLEDGED,
        ref("mw-1"),
        at,
    )
    state, _ = run([closed(APT1, "mw-1", at=at + timedelta(hours=1))], state=state)
    alert = only_alert(state)
    assert (alert.status, alert.closed_by) == (AlertStatus.CLOSED, ref("mw-1"))
    assert alert.close_reason == "phoned her; rebooked for Friday"


def test_changes_to_a_closed_or_unknown_alert_are_no_ops() -> None:
    state, _ = run([missed("APT-1"), closed(APT1)])
    for change in (acknowledged(APT1), escalated(APT1), closed(APT1, "mw-2")):
        assert fold(state, change, RULES) == (state, [])
    unknown = alert_id_for(TRUST, "NOT-AN-APPOINTMENT")
    assert fold(state, acknowledged(unknown), RULES) == (state, [])


# -- people and determinism ----------------------------------------------------------------------


def test_registration_records_the_person_once() -> None:
    state, effects = run([registered("Amy", "Example"), registered("Amy", "Example")])
    assert [type(e) for e in effects] == [PersonUpdated]
    person = state.people[NHS_NUMBER]
    assert (person.given_name, person.nhs_number) == ("Amy", NHS_NUMBER)


@pytest.mark.parametrize(
    ("registrations", "kept"),
    [
        (["cy"], "cy"),
        (["cy", None], "cy"),  # a later record that says nothing keeps what was said
        (["en", "cy"], "cy"),  # a later preference replaces an earlier one
        ([None], None),  # not recorded: the page says to write bilingually
    ],
)
def test_the_persons_language_is_kept_for_the_alert(
    registrations: list[str | None], kept: str | None
) -> None:
    state, _ = run(registered("Cerys", "Jones", language) for language in registrations)
    assert state.people[NHS_NUMBER].language == kept


def test_a_new_language_alone_updates_the_person() -> None:
    state, _ = run([registered("Cerys", "Jones")])
    _, effects = fold(state, registered("Cerys", "Jones", "cy"), RULES)
    assert [e.person.language for e in effects if isinstance(e, PersonUpdated)] == ["cy"]


def test_the_fold_is_deterministic() -> None:
    events = [
        registered(),
        assigned("mw-1"),
        booked("APT-3"),
        missed("APT-1"),
        assigned("mw-2"),
        missed("APT-2"),
        acknowledged(APT1),
    ]
    assert run(events) == run(events)


# -- what the alert says -----------------------------------------------------------------------


def _at(location: str | None) -> AppointmentMissed:
    return AppointmentMissed(appointment=appointment().model_copy(update={"location": location}))


@pytest.mark.parametrize(
    ("booked_at", "missed_at", "alert_at"),
    [
        ("North Manchester antenatal clinic", None, "North Manchester antenatal clinic"),
        ("North Manchester antenatal clinic", "Room 3, NMGH", "Room 3, NMGH"),  # the newer word
        (None, None, None),
        (None, "Room 3, NMGH", "Room 3, NMGH"),
    ],
)
def test_an_alert_keeps_the_bookings_location_when_the_no_show_has_none(
    booked_at: str | None, missed_at: str | None, alert_at: str | None
) -> None:
    booking = AppointmentBooked(appointment=_at(booked_at).appointment)
    events = [
        assigned(),
        case_event(EventType.APPOINTMENT_BOOKED, booking, record_id="APT-1-booked"),
        case_event(EventType.APPOINTMENT_MISSED, _at(missed_at), record_id="APT-1"),
    ]
    state, _ = run(events)
    assert only_alert(state).appointment.location == alert_at


def test_a_no_show_of_an_appointment_never_booked_here_keeps_its_own_location() -> None:
    state, _ = run([case_event(EventType.APPOINTMENT_MISSED, _at("Room 3"), record_id="APT-1")])
    assert only_alert(state).appointment.location == "Room 3"
    state, _ = run([case_event(EventType.APPOINTMENT_MISSED, _at(None), record_id="APT-1")])
    assert only_alert(state).appointment.location is None


# -- recipients are (organisation, id) ------------------------------------------------------------

COUNCIL, CHARITY = "SAL-COUNCIL", "HOME-START"


def test_namesakes_in_two_organisations_are_two_team_members_and_only_the_addressed_one_hears() -> (
    None
):
    state, _ = run(
        [
            assigned("kw-7", PractitionerRole.SOCIAL_WORKER, organisation_code=COUNCIL),
            assigned("kw-7", PractitionerRole.KEY_WORKER, organisation_code=CHARITY),
            missed("APT-1"),
        ]
    )
    assert len(state.team) == 2  # neither assignment replaced the other
    alert = only_alert(state)
    assert alert.recipients == refs("kw-7", organisation_code=CHARITY)
    assert ref("kw-7", COUNCIL) not in alert.addressed_to()


@pytest.mark.parametrize(
    ("by_organisation", "recorded_as"),
    [
        (CHARITY, ref("kw-7", CHARITY)),
        (None, ref("kw-7", "R0A")),  # an event from before the field: the source's organisation
    ],
)
def test_who_acknowledged_and_closed_is_an_organisation_and_an_id(
    by_organisation: str | None, recorded_as: object
) -> None:
    state, _ = run(
        [
            assigned("kw-7", PractitionerRole.KEY_WORKER, organisation_code=CHARITY),
            missed("APT-1"),
            acknowledged(APT1, "kw-7", by_organisation),
        ]
    )
    assert only_alert(state).acknowledged_by == recorded_as
    state, _ = run([closed(APT1, "kw-7", by_organisation)], state=state)
    assert only_alert(state).closed_by == recorded_as


def test_escalation_to_the_lead_names_the_lead_in_the_controllers_organisation() -> None:
    rules = Rules(escalate_after_missed=1, safeguarding_leads={"R0A": "lead-1", COUNCIL: "lead-1"})
    state, _ = run([missed("APT-1")], rules=rules)
    assert only_alert(state).escalated_to == refs("lead-1", organisation_code="R0A")


# -- unassignment ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("ending", "still_hears"),
    [
        (unassigned("mw-1"), False),  # the assignment held ends
        (unassigned("mw-1", organisation_code="RW6"), True),  # another trust's mw-1
        (unassigned("mw-1", role=PractitionerRole.HEALTH_VISITOR), True),  # a role not held
        (unassigned("mw-2"), True),  # someone else
    ],
)
def test_an_unassignment_takes_only_the_assignment_it_names_out_of_later_alerts(
    ending: CaseEvent, still_hears: bool
) -> None:
    state, _ = run(
        [
            assigned("mw-1"),
            booked("APT-1"),
            missed("APT-1"),
            ending,
            booked("APT-2", at=T0 + timedelta(days=40)),
            missed("APT-2", at=T0 + timedelta(days=40)),
        ]
    )
    first = state.alerts[APT1]
    later = state.alerts[alert_id_for(TRUST, "APT-2")]
    assert ref("mw-1") in first.recipients  # whoever was told stays told
    assert (ref("mw-1") in later.recipients) is still_hears
    assert any(isinstance(e, MemberUnassigned) for e in run([assigned(), ending])[1]) is (
        not still_hears
    )


def test_the_folds_copy_with_changes_equals_replace_and_refuses_unknown_fields() -> None:
    from dataclasses import replace

    from hub.alerts.fold import _evolve

    state, _ = fold(empty_state("family-1"), registered("Ada", "Example"), Rules())
    person = next(iter(state.people.values()))
    evolved = _evolve(person, given_name="Changed")
    assert evolved == replace(person, given_name="Changed")
    assert person.given_name == "Ada"  # the original is untouched
    with pytest.raises(TypeError, match="no field"):
        _evolve(person, nickname="x")
