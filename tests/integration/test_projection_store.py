"""One contract for the projection store, run against every adapter: SQLite and PostgreSQL."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from sqlalchemy import Engine

from hub.alerts.changes import changes_after, last_seq
from hub.alerts.fold import alert_id_for
from hub.alerts.state import AlertStatus, Rules
from hub.alerts.store import MissedAppointmentStore
from hub.erasure.sealing import Erasure
from hub.vocabulary import PractitionerRole
from tests.builders import (
    NHS_NUMBER,
    T0,
    TRUST,
    acknowledged,
    assigned,
    booked,
    closed,
    missed,
    ref,
    refs,
    registered,
)
from tests.unit.test_missed_appointments_fold import run

TOPIC = "case-events"


@pytest.fixture
def store(sql_engine: Engine) -> MissedAppointmentStore:
    return MissedAppointmentStore(sql_engine)


def test_an_applied_no_show_is_an_open_alert_for_the_midwife(store: MissedAppointmentStore) -> None:
    store.apply(TOPIC, 0, 0, registered("Amy", "Example"))
    store.apply(TOPIC, 0, 1, assigned("mw-1"))
    store.apply(TOPIC, 0, 2, missed("APT-1"))
    [view] = store.open_alerts_for(ref("mw-1"))
    assert view.alert.appointment.appointment_id == "APT-1"
    assert view.alert.recipients == refs("mw-1")
    assert (view.person.given_name, view.person.nhs_number) == ("Amy", NHS_NUMBER)
    assert view.alert.missed_at.tzinfo is not None
    assert store.open_alerts_for(ref("someone-else")) == []


def test_a_replayed_offset_is_skipped(store: MissedAppointmentStore) -> None:
    assert store.apply(TOPIC, 0, 0, assigned("mw-1"))
    assert store.apply(TOPIC, 0, 1, missed("APT-1"))
    assert not store.apply(TOPIC, 0, 1, missed("APT-1"))
    assert not store.apply(TOPIC, 0, 0, assigned("mw-1"))
    assert store.next_offset(TOPIC, 0) == 2
    assert len(store.open_alerts_for(ref("mw-1"))) == 1


def test_positions_are_per_partition(store: MissedAppointmentStore) -> None:
    store.apply(TOPIC, 0, 5, assigned("mw-1"))
    store.apply(TOPIC, 1, 0, missed("APT-9", nhs_number="4010232137"))
    assert (store.next_offset(TOPIC, 0), store.next_offset(TOPIC, 1)) == (6, 1)
    assert store.next_offset(TOPIC, 2) is None


def test_the_same_no_show_at_a_new_offset_raises_nothing_new(store: MissedAppointmentStore) -> None:
    store.apply(TOPIC, 0, 0, assigned("mw-1"))
    store.apply(TOPIC, 0, 1, missed("APT-1"))
    store.apply(TOPIC, 0, 2, missed("APT-1"))  # the sender re-sent it
    assert len(store.open_alerts_for(ref("mw-1"))) == 1


def test_a_late_midwife_receives_the_open_alert(store: MissedAppointmentStore) -> None:
    store.apply(TOPIC, 0, 0, missed("APT-1"))
    store.apply(TOPIC, 0, 1, assigned("mw-2"))
    [view] = store.open_alerts_for(ref("mw-2"))
    assert view.alert.recipients == refs("mw-2")


def test_a_dead_lettered_entry_moves_only_the_position(store: MissedAppointmentStore) -> None:
    assert store.apply(TOPIC, 0, 0, None)
    assert store.next_offset(TOPIC, 0) == 1
    assert store.open_alerts_for(ref("mw-1")) == []


FAMILY = b"family-1"
BABY = "4010232137"


def test_the_stored_state_is_the_folds_state(store: MissedAppointmentStore) -> None:
    """Whatever the fold holds in memory survives the SQL round trip, field for field."""
    apt1 = alert_id_for(TRUST, "APT-1")
    events = [
        registered("Amy", "Example"),
        assigned("mw-1"),
        assigned("smw-1", PractitionerRole.SAFEGUARDING_MIDWIFE),
        booked("APT-1"),
        booked("APT-3", T0 + timedelta(days=3)),
        missed("APT-1"),
        missed("HV-1", nhs_number=BABY, at=T0 + timedelta(days=2)),
        acknowledged(apt1),
        closed(apt1, at=T0 + timedelta(hours=3)),
    ]
    for offset, event in enumerate(events):
        assert store.apply(TOPIC, 0, offset, event, FAMILY)
    expected, _ = run(events, rules=Rules(), state=None)
    stored = store.state_of("family-1")
    assert stored.alerts == expected.alerts
    assert stored.bookings == expected.bookings
    assert stored.team == expected.team
    assert stored.people == expected.people
    assert any(a.escalated_to == refs("smw-1") for a in stored.alerts.values())


def test_one_familys_alerts_reach_its_midwife_whoever_they_are_about(
    store: MissedAppointmentStore,
) -> None:
    store.apply(TOPIC, 0, 0, assigned("mw-1"), FAMILY)
    store.apply(TOPIC, 0, 1, missed("HV-1", nhs_number=BABY), FAMILY)
    store.apply(TOPIC, 0, 2, missed("OTHER", nhs_number="9999999468"), b"another-family")
    [view] = store.open_alerts_for(ref("mw-1"))
    assert view.alert.subject_key == BABY


def test_closed_alerts_leave_the_inbox(store: MissedAppointmentStore) -> None:
    apt1 = alert_id_for(TRUST, "APT-1")
    store.apply(TOPIC, 0, 0, assigned("mw-1"), FAMILY)
    store.apply(TOPIC, 0, 1, missed("APT-1"), FAMILY)
    store.apply(TOPIC, 0, 2, acknowledged(apt1), FAMILY)
    [view] = store.open_alerts_for(ref("mw-1"))
    assert view.alert.status is AlertStatus.ACKNOWLEDGED
    store.apply(TOPIC, 0, 3, closed(apt1), FAMILY)
    assert store.open_alerts_for(ref("mw-1")) == []
    closed_view = store.alert(apt1)
    assert closed_view is not None
    assert closed_view.alert.status is AlertStatus.CLOSED


def test_due_bookings_and_unacknowledged_alerts_are_what_the_timers_read(
    store: MissedAppointmentStore,
) -> None:
    store.apply(TOPIC, 0, 0, booked("APT-1", T0), FAMILY)
    store.apply(TOPIC, 0, 1, booked("APT-2", T0 + timedelta(days=1)), FAMILY)
    grace = Rules().grace
    assert [b.appointment.appointment_id for b in store.due_bookings(T0 + grace)] == ["APT-1"]
    assert store.due_bookings(T0) == []
    store.apply(TOPIC, 0, 2, missed("APT-1"), FAMILY)
    assert store.due_bookings(T0 + timedelta(days=5))[0].appointment.appointment_id == "APT-2"
    [alert] = store.unacknowledged(raised_by=T0 + timedelta(hours=1))
    assert alert.appointment.appointment_id == "APT-1"
    assert store.unacknowledged(raised_by=T0 - timedelta(hours=1)) == []


def test_an_erasure_deletes_every_row_about_the_subject(store: MissedAppointmentStore) -> None:
    store.apply(TOPIC, 0, 0, registered(), FAMILY)
    store.apply(TOPIC, 0, 1, assigned("mw-1"), FAMILY)
    store.apply(TOPIC, 0, 2, booked("APT-2"), FAMILY)
    store.apply(TOPIC, 0, 3, missed("APT-1"), FAMILY)
    store.apply(TOPIC, 0, 4, missed("HV-1", nhs_number=BABY), FAMILY)
    erasure = Erasure(
        key_id="k1",
        erasure_id=uuid.uuid4(),
        erased_at=T0,
        requested_by="dpo",
        reason="subject's request",
        subjects=(NHS_NUMBER,),
    )
    store.apply(TOPIC, 0, 5, erasure, FAMILY)
    state = store.state_of("family-1")
    assert NHS_NUMBER not in state.people
    assert state.bookings == {}
    assert [a.subject_key for a in state.alerts.values()] == [BABY]
    assert {m.subject_key for m in state.team.values()} == set()
    # The erased mother's alert left the change feed with her; one "erased" row says so.
    assert [(c.alert_id, c.change) for c in changes_after(store.engine, 0)] == [
        (alert_id_for(TRUST, "HV-1"), "raised"),
        (alert_id_for(TRUST, "APT-1"), "erased"),
    ]


def test_every_alert_change_is_in_the_feed_once_in_order(store: MissedAppointmentStore) -> None:
    store.apply(TOPIC, 0, 0, assigned("mw-1"), FAMILY)
    store.apply(TOPIC, 0, 1, missed("APT-1"), FAMILY)
    assert not store.apply(TOPIC, 0, 1, missed("APT-1"), FAMILY)  # re-delivered: no new change
    alert = alert_id_for(TRUST, "APT-1")
    store.apply(TOPIC, 0, 2, assigned("kw-1", PractitionerRole.KEY_WORKER), FAMILY)
    store.apply(TOPIC, 0, 3, acknowledged(alert), FAMILY)
    store.apply(TOPIC, 0, 4, closed(alert), FAMILY)
    changes = changes_after(store.engine, 0)
    assert [(c.alert_id, c.family_key, c.change) for c in changes] == [
        (alert, "family-1", change) for change in ("raised", "routed", "acknowledged", "closed")
    ]
    assert [c.seq for c in changes] == sorted(c.seq for c in changes)
    assert len({c.change_id for c in changes}) == 4
    assert changes_after(store.engine, changes[1].seq) == changes[2:]
    assert last_seq(store.engine) == changes[-1].seq


def test_a_store_without_the_feed_records_no_changes(sql_engine: Engine) -> None:
    quiet = MissedAppointmentStore(sql_engine, change_feed=False)
    quiet.apply(TOPIC, 0, 0, assigned("mw-1"))
    quiet.apply(TOPIC, 0, 1, missed("APT-1"))
    assert len(quiet.open_alerts_for(ref("mw-1"))) == 1
    assert changes_after(sql_engine, 0) == []
    assert last_seq(sql_engine) == 0
