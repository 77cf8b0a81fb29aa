"""The team store against every adapter (SQLite and PostgreSQL): apply, skip, erase."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from sqlalchemy import Engine

from hub.erasure.sealing import Erasure
from hub.team.fold import AppointmentItem, AppointmentStatus, Plan, Related
from hub.team.store import TeamStore
from hub.vocabulary import PractitionerRole
from tests.builders import NHS_NUMBER, SALFORD_COUNCIL, T0, ref
from tests.team_builders import (
    BABY_NHS,
    UNBORN_KEY,
    baby_born,
    booked,
    expecting,
    family_story,
    no_show,
    plan_ended,
    practitioner,
)

TOPIC = "family-events"


@pytest.fixture
def store(sql_engine: Engine) -> TeamStore:
    return TeamStore(sql_engine)


def erasure(*subjects: str) -> Erasure:
    return Erasure(
        key_id="k-1",
        erasure_id=uuid.uuid4(),
        erased_at=T0,
        requested_by="dpo-1",
        reason="test",
        subjects=subjects,
    )


def test_applied_events_are_the_persons_items(store: TeamStore) -> None:
    for offset, event in enumerate(family_story(T0)):
        assert store.apply(TOPIC, 0, offset, event)
    items = store.items_of([NHS_NUMBER, "nobody"])
    assert items["nobody"] == []
    assert {i.kind for i in items[NHS_NUMBER]} == {
        "demographics",
        "relationship",
        "practitioner",
        "assessment",
        "plan",
        "programme",
        "appointment",
    }
    [related] = [i.body for i in items[NHS_NUMBER] if isinstance(i.body, Related)]
    assert related.related_keys == (UNBORN_KEY,)
    [appointment] = [
        i.body
        for i in items[NHS_NUMBER]
        if isinstance(i.body, AppointmentItem) and i.body.appointment_id == "APT-20W"
    ]
    assert appointment.start.tzinfo is not None
    assert store.subjects_involving(ref("mw-1")) == [NHS_NUMBER]
    assert store.subjects_involving(ref("lp-1", SALFORD_COUNCIL)) == [NHS_NUMBER]
    assert store.subjects_involving(ref("nobody")) == []


def test_updates_replace_the_item(store: TeamStore) -> None:
    start = T0 + timedelta(days=3)
    store.apply(TOPIC, 0, 0, booked("APT-1", start))
    store.apply(TOPIC, 0, 1, no_show("APT-1", start))
    store.apply(TOPIC, 0, 2, family_story(T0)[5])  # the CP plan
    store.apply(TOPIC, 0, 3, plan_ended())
    items = store.items_of([NHS_NUMBER])[NHS_NUMBER]
    [appointment] = [i.body for i in items if isinstance(i.body, AppointmentItem)]
    assert appointment.status is AppointmentStatus.MISSED
    [plan] = [i.body for i in items if isinstance(i.body, Plan)]
    assert not plan.active


def test_an_applied_offset_is_skipped(store: TeamStore) -> None:
    assert store.apply(TOPIC, 0, 0, practitioner("mw-1", PractitionerRole.COMMUNITY_MIDWIFE))
    assert not store.apply(TOPIC, 0, 0, practitioner("mw-2", PractitionerRole.COMMUNITY_MIDWIFE))
    assert store.next_offset(TOPIC, 0) == 1
    assert store.subjects_involving(ref("mw-2")) == []
    assert store.apply(TOPIC, 0, 1, None)  # dead-lettered: only the position moves
    assert store.next_offset(TOPIC, 0) == 2


def test_the_same_event_at_a_new_offset_changes_nothing(store: TeamStore) -> None:
    event = practitioner("mw-1", PractitionerRole.COMMUNITY_MIDWIFE)
    store.apply(TOPIC, 0, 0, event)
    before = store.items_of([NHS_NUMBER])
    store.apply(TOPIC, 1, 0, event)  # forwarded twice after a crash
    assert store.items_of([NHS_NUMBER]) == before


def test_erasure_deletes_the_subjects_items(store: TeamStore) -> None:
    for offset, event in enumerate(family_story(T0)):
        store.apply(TOPIC, 0, offset, event)
    store.apply(TOPIC, 0, 100, baby_born())
    assert store.apply(TOPIC, 0, 101, erasure(NHS_NUMBER))
    assert store.items_of([NHS_NUMBER])[NHS_NUMBER] == []
    assert store.subjects_involving(ref("mw-1")) == []
    # the baby's birth names the erased mother: it goes too
    assert store.items_of([BABY_NHS])[BABY_NHS] == []


def test_erasing_the_unborn_child_removes_the_relationship_that_names_it(store: TeamStore) -> None:
    store.apply(TOPIC, 0, 0, expecting())
    store.apply(TOPIC, 0, 1, practitioner("mw-1", PractitionerRole.COMMUNITY_MIDWIFE))
    store.apply(TOPIC, 0, 2, erasure(UNBORN_KEY))
    assert [i.kind for i in store.items_of([NHS_NUMBER])[NHS_NUMBER]] == ["practitioner"]
    assert store.apply(TOPIC, 0, 3, erasure())  # a replayed marker: nothing left to delete
