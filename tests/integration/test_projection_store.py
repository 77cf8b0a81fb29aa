"""One contract for the projection store, run against every adapter: SQLite and PostgreSQL."""

from __future__ import annotations

import pytest
from sqlalchemy import Engine

from hub.projections.store import MissedAppointmentStore
from tests.builders import NHS_NUMBER, assigned, missed, registered

TOPIC = "case-events"


@pytest.fixture
def store(sql_engine: Engine) -> MissedAppointmentStore:
    return MissedAppointmentStore(sql_engine)


def test_an_applied_no_show_is_an_open_alert_for_the_midwife(store: MissedAppointmentStore) -> None:
    store.apply(TOPIC, 0, 0, registered("Amy", "Example"))
    store.apply(TOPIC, 0, 1, assigned("mw-1"))
    store.apply(TOPIC, 0, 2, missed("APT-1"))
    [view] = store.open_alerts_for("mw-1")
    assert view.alert.appointment.appointment_id == "APT-1"
    assert view.alert.recipients == {"mw-1"}
    assert (view.person.given_name, view.person.nhs_number) == ("Amy", NHS_NUMBER)
    assert view.alert.missed_at.tzinfo is not None
    assert store.open_alerts_for("someone-else") == []


def test_a_replayed_offset_is_skipped(store: MissedAppointmentStore) -> None:
    assert store.apply(TOPIC, 0, 0, assigned("mw-1"))
    assert store.apply(TOPIC, 0, 1, missed("APT-1"))
    assert not store.apply(TOPIC, 0, 1, missed("APT-1"))
    assert not store.apply(TOPIC, 0, 0, assigned("mw-1"))
    assert store.next_offset(TOPIC, 0) == 2
    assert len(store.open_alerts_for("mw-1")) == 1


def test_positions_are_per_partition(store: MissedAppointmentStore) -> None:
    store.apply(TOPIC, 0, 5, assigned("mw-1"))
    store.apply(TOPIC, 1, 0, missed("APT-9", nhs_number="4010232137"))
    assert (store.next_offset(TOPIC, 0), store.next_offset(TOPIC, 1)) == (6, 1)
    assert store.next_offset(TOPIC, 2) is None


def test_the_same_no_show_at_a_new_offset_raises_nothing_new(store: MissedAppointmentStore) -> None:
    store.apply(TOPIC, 0, 0, assigned("mw-1"))
    store.apply(TOPIC, 0, 1, missed("APT-1"))
    store.apply(TOPIC, 0, 2, missed("APT-1"))  # the sender re-sent it
    assert len(store.open_alerts_for("mw-1")) == 1


def test_a_late_midwife_receives_the_open_alert(store: MissedAppointmentStore) -> None:
    store.apply(TOPIC, 0, 0, missed("APT-1"))
    store.apply(TOPIC, 0, 1, assigned("mw-2"))
    [view] = store.open_alerts_for("mw-2")
    assert view.alert.recipients == {"mw-2"}


def test_a_dead_lettered_entry_moves_only_the_position(store: MissedAppointmentStore) -> None:
    assert store.apply(TOPIC, 0, 0, None)
    assert store.next_offset(TOPIC, 0) == 1
    assert store.open_alerts_for("mw-1") == []
