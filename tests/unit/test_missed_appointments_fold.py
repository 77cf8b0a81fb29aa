"""The missed-appointment fold, called directly: no Kafka, no SQL."""

from __future__ import annotations

from collections.abc import Iterable

import pytest

from hub.events import CaseEvent, PractitionerRole
from hub.projections.missed_appointments import (
    AlertRaised,
    AlertRouted,
    Effect,
    MidwifeAssigned,
    PersonState,
    PersonUpdated,
    empty_state,
    fold,
)
from tests.builders import NHS_NUMBER, assigned, attended, missed, registered


def run(events: Iterable[CaseEvent], key: str = NHS_NUMBER) -> tuple[PersonState, list[Effect]]:
    state, effects = empty_state(key), list[Effect]()
    for event in events:
        state, new = fold(state, event)
        effects.extend(new)
    return state, effects


def test_a_missed_appointment_is_addressed_to_the_assigned_midwife() -> None:
    state, effects = run([assigned("mw-1"), missed("APT-1")])
    raised = [e for e in effects if isinstance(e, AlertRaised)]
    assert len(raised) == 1
    assert raised[0].alert.recipients == {"mw-1"}
    assert raised[0].alert.appointment.appointment_id == "APT-1"
    assert next(iter(state.alerts.values())).status == "OPEN"


@pytest.mark.parametrize(
    "role",
    [
        PractitionerRole.COMMUNITY_MIDWIFE,
        PractitionerRole.PROGRAMME_MIDWIFE,
        PractitionerRole.SPECIALIST_MIDWIFE,
    ],
)
def test_every_midwife_role_receives_alerts(role: PractitionerRole) -> None:
    state, _ = run([assigned("mw-1", role), missed()])
    assert next(iter(state.alerts.values())).recipients == {"mw-1"}


def test_other_practitioners_are_not_midwives() -> None:
    state, effects = run([assigned("sw-1", PractitionerRole.SOCIAL_WORKER), missed()])
    assert not any(isinstance(e, MidwifeAssigned) for e in effects)
    assert next(iter(state.alerts.values())).recipients == frozenset()


def test_a_resent_no_show_raises_no_second_alert() -> None:
    first = missed("APT-1")
    state, effects = run([assigned(), first, first, missed("APT-1")])
    assert len([e for e in effects if isinstance(e, AlertRaised)]) == 1
    assert len(state.alerts) == 1


def test_each_missed_appointment_gets_its_own_alert() -> None:
    state, _ = run([assigned(), missed("APT-1"), missed("APT-2")])
    assert len(state.alerts) == 2


def test_an_alert_raised_before_any_midwife_is_routed_when_one_is_assigned() -> None:
    state, effects = run([missed("APT-1"), assigned("mw-9")])
    assert AlertRouted(next(iter(state.alerts)), "mw-9") in effects
    assert next(iter(state.alerts.values())).recipients == {"mw-9"}


def test_a_second_midwife_joins_open_alerts() -> None:
    state, _ = run([assigned("mw-1"), missed(), assigned("mw-2")])
    assert next(iter(state.alerts.values())).recipients == {"mw-1", "mw-2"}


def test_reassigning_the_same_midwife_changes_nothing() -> None:
    state, _ = run([assigned("mw-1"), missed()])
    again, effects = fold(state, assigned("mw-1"))
    assert effects == []
    assert again == state


def test_attendance_raises_nothing() -> None:
    _, effects = run([assigned(), attended()])
    assert [type(e) for e in effects] == [MidwifeAssigned]


def test_registration_records_the_person_once() -> None:
    state, effects = run([registered("Amy", "Example"), registered("Amy", "Example")])
    assert [type(e) for e in effects] == [PersonUpdated]
    assert (state.person.given_name, state.person.nhs_number) == ("Amy", NHS_NUMBER)


def test_an_event_about_someone_else_is_refused() -> None:
    with pytest.raises(ValueError, match="is about"):
        fold(empty_state("4010232137"), missed())


def test_the_fold_is_deterministic() -> None:
    events = [registered(), assigned("mw-1"), missed("APT-1"), assigned("mw-2"), missed("APT-2")]
    assert run(events) == run(events)
