"""A memoised plan is the plan the policy would make now (issue 19, reads).

:class:`hub.sharing.memo.DecisionMemo` keeps the gate's plans per window of time between the
facts' instants (:func:`hub.sharing.policy.changes_at`). What makes that safe is that
:func:`decide` cannot change its answer inside such a window; the property tests ask exactly
that, over facts with consents given and expiring, withdrawals and overrides started, expiring
and ended, at times on and around every instant.
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from functools import reduce

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hub.disclosures import Channel
from hub.events import CaseEvent
from hub.sharing.agreement import load_agreement
from hub.sharing.facts import SharingFacts, fold_sharing
from hub.sharing.gate import Item, Plan, plan, release, release_planned, shape_of
from hub.sharing.memo import DecisionMemo
from hub.sharing.policy import Recipient, Request, Subject, changes_at, decide
from hub.vocabulary import DataCategory, Purpose
from tests.builders import (
    HOME_START,
    NHS_NUMBER,
    T0,
    consented,
    override,
    override_ended,
    withdrawn,
)

AGREEMENT = load_agreement()
DAY = timedelta(days=1)
READERS = [
    Recipient(HOME_START, "KEY_WORKER", "hs-1"),
    Recipient("VCS-WOMENSAID-MCR", "KEY_WORKER", "wa-1"),
    Recipient("355", "SOCIAL_WORKER", "sw-1"),
    Recipient("RX9", "GP", "gp-1"),
]
CATEGORIES = [DataCategory.APPOINTMENTS, DataCategory.DEMOGRAPHICS, DataCategory.MENTAL_HEALTH]
SUBJECT = Subject(NHS_NUMBER)
ITEMS = [
    Item(DataCategory.APPOINTMENTS, "R0A", "alert-1"),
    Item(DataCategory.DEMOGRAPHICS, "R0A", "alert-1/person", 0),
    Item(DataCategory.MENTAL_HEALTH, "RM3", "note-1"),
]
CHANGES: list[CaseEvent] = [
    consented("c-1", at=T0),
    consented("c-2", expires_at=T0 + 3 * DAY, at=T0 + DAY),
    consented("c-3", recipients=("VCS-WOMENSAID-MCR",), at=T0 + 2 * DAY),
    withdrawn(at=T0 + 2 * DAY),
    withdrawn(consent_id="c-2", record_id="withdrawal-2", at=T0 + 4 * DAY),
    override("o-1", at=T0 + DAY, expires_at=T0 + 5 * DAY),
    override_ended("o-1", at=T0 + 3 * DAY),
    override("o-2", recipients=("RX9",), at=T0 + 2 * DAY, expires_at=T0 + 6 * DAY),
]
SECOND = timedelta(seconds=1)


def _facts(chosen: list[int]) -> SharingFacts:
    return reduce(fold_sharing, [CHANGES[i] for i in chosen], SharingFacts())


def _times(_facts: SharingFacts) -> list[datetime]:
    """Every instant any of ``CHANGES`` can give (whole days from T0), a second either side,
    and times before and after them all: chosen without :func:`changes_at`, so an instant it
    left out is probed too."""
    times = []
    for day in range(-1, 8):
        instant = T0 + day * DAY
        times += [instant - SECOND, instant, instant + SECOND]
    return times


FACTS = st.lists(st.sampled_from(range(len(CHANGES))), max_size=len(CHANGES))


@settings(max_examples=150, deadline=None)
@given(chosen=FACTS, data=st.data())
def test_a_decision_is_the_same_at_any_two_times_in_one_window(
    chosen: list[int], data: st.DataObject
) -> None:
    facts = _facts(chosen)
    instants = changes_at(facts)
    times = _times(facts)
    first = data.draw(st.sampled_from(times))
    window = [
        t for t in times if sum(i <= t for i in instants) == sum(i <= first for i in instants)
    ]
    second = data.draw(st.sampled_from(window))
    for reader in READERS:
        for category in CATEGORIES:
            for purpose in (Purpose.DIRECT_CARE, Purpose.SAFEGUARDING):
                asked = [
                    Request(reader, purpose, category, SUBJECT, "R0A", t) for t in (first, second)
                ]
                assert decide(AGREEMENT, facts, asked[0]) == decide(AGREEMENT, facts, asked[1])


@settings(max_examples=100, deadline=None)
@given(chosen=FACTS, data=st.data())
def test_the_memo_answers_what_the_gate_decides_now(chosen: list[int], data: st.DataObject) -> None:
    facts = _facts(chosen)
    memo = DecisionMemo(facts)
    times = data.draw(st.lists(st.sampled_from(_times(facts)), min_size=1, max_size=12))
    for at in times:
        reader = data.draw(st.sampled_from(READERS))
        shape = shape_of(ITEMS)
        remembered = memo.plan(
            AGREEMENT,
            recipient=reader,
            purpose=Purpose.DIRECT_CARE,
            subject=SUBJECT,
            at=at,
            shape=shape,
            channel=Channel.API,
        )
        fresh = plan(
            AGREEMENT,
            facts,
            recipient=reader,
            purpose=Purpose.DIRECT_CARE,
            subject=SUBJECT,
            at=at,
            shape=shape,
            channel=Channel.API,
        )
        assert remembered.sent == fresh.sent
        assert remembered.template is not None
        assert fresh.template is not None
        same = {"disclosure_id", "disclosed_at"}  # the template's: each release has its own
        assert remembered.template.model_dump(exclude=same) == fresh.template.model_dump(
            exclude=same
        )


def test_a_plan_is_made_once_per_window_and_again_past_an_instant() -> None:
    facts = _facts([0, 3])  # consent at T0, withdrawn at T0 + 2 days
    memo = DecisionMemo(facts)
    reader = READERS[0]

    def planned(at: datetime) -> Plan:
        return memo.plan(
            AGREEMENT,
            recipient=reader,
            purpose=Purpose.DIRECT_CARE,
            subject=SUBJECT,
            at=at,
            shape=shape_of(ITEMS),
            channel=Channel.API,
        )

    before = planned(T0 + DAY)
    assert planned(T0 + DAY + 5 * SECOND) is before  # the same window: no decision made again
    after = planned(T0 + 2 * DAY)
    assert after is not before
    assert before.sent == (True, True, False)
    assert after.sent == (False, False, False)
    other = load_agreement()  # an equal agreement, another object: decided again
    assert (
        memo.plan(
            other,
            recipient=reader,
            purpose=Purpose.DIRECT_CARE,
            subject=SUBJECT,
            at=T0 + DAY,
            shape=shape_of(ITEMS),
            channel=Channel.API,
        )
        is not before
    )


def test_each_release_of_a_plan_records_its_own_disclosure() -> None:
    facts = _facts([0])
    made = plan(
        AGREEMENT,
        facts,
        recipient=READERS[0],
        purpose=Purpose.DIRECT_CARE,
        subject=SUBJECT,
        at=T0 + DAY,
        shape=shape_of(ITEMS),
        channel=Channel.API,
    )
    one = release_planned(made, ITEMS, at=T0 + 2 * DAY, reference="GET /a")
    two = release_planned(made, ITEMS, at=T0 + 3 * DAY, reference="GET /b")
    assert one.released == two.released == ("alert-1", "alert-1/person")
    assert one.disclosure is not None
    assert two.disclosure is not None
    assert one.disclosure.disclosure_id != two.disclosure.disclosure_id
    assert (one.disclosure.disclosed_at, one.disclosure.reference) == (T0 + 2 * DAY, "GET /a")
    alone = release(
        AGREEMENT,
        facts,
        recipient=READERS[0],
        purpose=Purpose.DIRECT_CARE,
        subject=SUBJECT,
        at=T0 + 2 * DAY,
        items=ITEMS,
        channel=Channel.API,
        reference="GET /a",
        disclosure_id=one.disclosure.disclosure_id,
    )
    assert alone.disclosure == one.disclosure  # the plan's copy is what deciding anew records
    with pytest.raises(ValueError, match="time zone"):
        release_planned(made, ITEMS, at=datetime(2026, 1, 1), reference="GET /a")
    with pytest.raises(ValueError, match="3 items given 2"):
        release_planned(made, ITEMS[:2], at=T0, reference="GET /a")
    assert uuid.UUID(int=0) not in (one.disclosure.disclosure_id, two.disclosure.disclosure_id)
