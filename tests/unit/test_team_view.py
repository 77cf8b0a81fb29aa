"""Team views assembled through the real gate and agreement, reader by reader.

The agreement is the repository's own ``config/sharing/agreement.toml``: statutory partners see
routine data on public task, special-category data (a CP plan classed SAFEGUARDING) only in the
named roles, and Home-Start only what the mother consented to.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import date, timedelta
from functools import reduce

from hub.disclosures import Channel
from hub.events import CaseEvent
from hub.identity.families import ANCHOR
from hub.jurisdictions import plan_terms
from hub.payloads import PlanStarted
from hub.sharing.agreement import load_agreement
from hub.sharing.facts import SharingFacts, fold_sharing
from hub.sharing.gate import Item, Release, release
from hub.sharing.policy import Recipient, Subject
from hub.team.fold import empty_state, fold
from hub.team.view import (
    Assembled,
    MemberInput,
    assemble_team,
    caseload_entry,
    not_sent,
    shown_in_caseload,
)
from hub.vocabulary import (
    DataCategory,
    Jurisdiction,
    PlanType,
    PractitionerRole,
    Purpose,
    Relationship,
)
from tests.builders import HOME_START, NHS_NUMBER, SALFORD_COUNCIL, T0, consented, ref, withdrawn
from tests.team_builders import UNBORN_KEY, family_story, plan_ended, plan_started

AGREEMENT = load_agreement()
NOW = T0 + timedelta(days=30)
FAMILY = "family-1"
MIDWIFE = Recipient("R0A", "COMMUNITY_MIDWIFE", "mw-1")
SOCIAL_WORKER = Recipient(SALFORD_COUNCIL, "SOCIAL_WORKER", "sw-7")
LEAD = Recipient(SALFORD_COUNCIL, "LEAD_PRACTITIONER", "lp-1")
HOME_START_WORKER = Recipient(HOME_START, "KEY_WORKER", "hs-3")
WOMENS_AID = Recipient("VCS-WOMENSAID-MCR", "KEY_WORKER", "wa-1")


def members(events: Iterable[CaseEvent]) -> list[MemberInput]:
    state = empty_state(NHS_NUMBER)
    for event in events:
        state, _ = fold(state, event)
    items = tuple((NHS_NUMBER, item) for item in state.items.values())
    return [
        MemberInput("p-mother", ANCHOR, (NHS_NUMBER,), items),
        MemberInput("p-unborn", Relationship.UNBORN_CHILD.value, (UNBORN_KEY,), ()),
    ]


def view(
    reader: Recipient, sharing: Sequence[CaseEvent] = (), events: Sequence[CaseEvent] = ()
) -> Assembled:
    facts = reduce(fold_sharing, sharing, SharingFacts())

    def gate(subject: Subject, items: Sequence[Item[str]], also: Sequence[str]) -> Release[str]:
        return release(
            AGREEMENT,
            facts,
            recipient=reader,
            purpose=Purpose.DIRECT_CARE,
            subject=subject,
            at=NOW,
            items=items,
            channel=Channel.API,
            reference="test",
        )

    return assemble_team(FAMILY, members(events or family_story(NOW)), gate, NOW)


def test_the_midwife_sees_the_team_but_not_the_cp_plan() -> None:
    assembled = view(MIDWIFE)
    team = assembled.view
    assert team is not None
    assert [(m.person_id, m.relationship) for m in team.members] == [
        ("p-mother", ANCHOR),
        ("p-unborn", "UNBORN_CHILD"),
    ]
    assert team.members[0].demographics is not None
    assert team.members[0].demographics.given_name == "Amy"
    assert team.members[1].demographics is None  # no registration of its own yet
    assert {p.practitioner_id for p in team.practitioners} == {"mw-1", "lp-1"}
    assert team.lead_practitioner is not None
    assert team.lead_practitioner.practitioner_id == "lp-1"
    assert team.active_plans == []  # SAFEGUARDING: not a role the agreement names
    [pregnancy] = team.pregnancies
    assert (pregnancy.person_id, pregnancy.unborn_person_id) == ("p-mother", "p-unborn")
    assert [a.appointment_id for a in team.upcoming_appointments] == ["APT-20W"]
    assert [a.appointment_id for a in team.missed_appointments] == ["APT-16W"]
    assert [a.assessment_type for a in team.assessments] == ["PRE_BIRTH"]
    assert [(p.programme, p.pathway) for p in team.programmes] == [("Strengthening Families", "B")]
    # one disclosure per person with items: the unborn child's row is recorded in the
    # mother's record (the relationship is hers), so it is disclosed as data about her
    [mother] = assembled.disclosures
    assert (mother.subject_key, mother.family_key) == (NHS_NUMBER, FAMILY)
    assert [(w.category, w.controller) for w in mother.withheld] == [
        (DataCategory.SAFEGUARDING, SALFORD_COUNCIL)
    ]


def test_the_social_worker_sees_the_cp_plan() -> None:
    team = view(SOCIAL_WORKER).view
    assert team is not None
    assert [p.plan_type for p in team.active_plans] == [PlanType.CHILD_PROTECTION]
    assert team.lead_practitioner is not None


def test_a_welsh_registration_is_shown_by_its_welsh_name_and_statute() -> None:
    """A registration on the Child Protection Register is a CP plan to every projection, and
    keeps the name and law a Newport social worker knows it by (ADR 0032)."""
    terms = plan_terms(Jurisdiction.WALES, PlanType.CHILD_PROTECTION)
    assert terms is not None
    registered = plan_started(plan_id="CPR-1")
    welsh = registered.model_copy(
        update={
            "payload": PlanStarted(
                plan_id="CPR-1",
                plan_type=PlanType.CHILD_PROTECTION,
                started_on=date(2026, 4, 1),
                jurisdiction=Jurisdiction.WALES,
                local_name=terms.started,
                statute=terms.statute,
            )
        }
    )
    events = [e for e in family_story(NOW) if e.event_type.value != "PLAN_STARTED"]
    team = view(SOCIAL_WORKER, events=[*events, welsh]).view
    assert team is not None
    [plan] = team.active_plans
    assert plan.plan_type is PlanType.CHILD_PROTECTION
    assert plan.local_name == "registration on the Child Protection Register"
    assert plan.statute == terms.statute


def test_an_ended_plan_is_not_shown_and_not_disclosed() -> None:
    assembled = view(SOCIAL_WORKER, events=[*family_story(NOW), plan_ended()])
    assert assembled.view is not None
    assert assembled.view.active_plans == []
    disclosed = {i.category for d in assembled.disclosures for i in d.items}
    assert DataCategory.SAFEGUARDING not in disclosed


def test_home_start_without_consent_sees_nothing_and_the_refusal_is_on_record() -> None:
    assembled = view(HOME_START_WORKER)
    assert assembled.view is None
    assert assembled.disclosures
    assert all(d.items == () for d in assembled.disclosures)
    assert any("no consent" in w.reason for d in assembled.disclosures for w in d.withheld)


def test_home_start_with_consent_sees_what_was_consented_to_and_no_more() -> None:
    consent = consented(
        categories=(DataCategory.APPOINTMENTS, DataCategory.DEMOGRAPHICS, DataCategory.MATERNITY)
    )
    team = view(HOME_START_WORKER, [consent]).view
    assert team is not None
    assert [a.appointment_id for a in team.missed_appointments] == ["APT-16W"]
    assert team.members[0].demographics is not None
    assert team.pregnancies  # MATERNITY consented
    assert team.practitioners == []  # PRACTITIONER_ALLOCATION was not
    assert team.lead_practitioner is None
    assert team.active_plans == []
    assert team.assessments == []


def test_a_withdrawal_binds_the_next_view() -> None:
    later = NOW - timedelta(days=1)
    assembled = view(HOME_START_WORKER, [consented(), withdrawn(at=later)])
    assert assembled.view is None


def test_an_organisation_outside_the_agreement_sees_nothing() -> None:
    assert view(Recipient("RX9", "GP", "gp-1")).view is None
    assert view(WOMENS_AID).view is None


def test_the_lead_is_the_latest_lead_practitioner_assigned() -> None:
    from tests.team_builders import COUNCIL, practitioner

    later = practitioner(
        "lp-2",
        PractitionerRole.LEAD_PRACTITIONER,
        organisation=SALFORD_COUNCIL,
        source=COUNCIL,
        at=T0 + timedelta(days=2),
    )
    team = view(SOCIAL_WORKER, events=[*family_story(NOW), later]).view
    assert team is not None
    assert team.lead_practitioner is not None
    assert team.lead_practitioner.practitioner_id == "lp-2"


def test_an_ended_involvement_is_not_shown_nor_on_the_caseload() -> None:
    from tests.team_builders import practitioner_ended

    ended = practitioner_ended(
        "mw-1", PractitionerRole.COMMUNITY_MIDWIFE, at=T0 + timedelta(days=3)
    )
    events = [*family_story(NOW), ended]
    team = view(MIDWIFE, events=events).view
    assert team is not None
    assert "mw-1" not in {p.practitioner_id for p in team.practitioners}
    before = view(MIDWIFE).view
    assert before is not None
    assert "mw-1" in {p.practitioner_id for p in before.practitioners}
    state = empty_state(NHS_NUMBER)
    for event in events:
        state, _ = fold(state, event)
    involvement = next(
        i
        for i in state.items.values()
        if i.kind == "practitioner" and getattr(i.body, "practitioner_id", None) == "mw-1"
    )
    assert shown_in_caseload(ref("mw-1"), NOW)(involvement) is False  # off her caseload


def test_no_lead_practitioner_is_none() -> None:
    events = [
        e
        for e in family_story(NOW)
        if getattr(e.payload, "role", None) is not PractitionerRole.LEAD_PRACTITIONER
    ]
    team = view(SOCIAL_WORKER, events=events).view
    assert team is not None
    assert team.lead_practitioner is None


def test_a_caseload_line_summarises_the_family_for_its_practitioner() -> None:
    facts = SharingFacts()

    def gate(subject: Subject, items: Sequence[Item[str]], also: Sequence[str]) -> Release[str]:
        return release(
            AGREEMENT,
            facts,
            recipient=MIDWIFE,
            purpose=Purpose.DIRECT_CARE,
            subject=subject,
            at=NOW,
            items=items,
            channel=Channel.API,
            reference="test",
        )

    assembled = assemble_team(
        FAMILY, members(family_story(NOW)), gate, NOW, shown_in_caseload(ref("mw-1"), NOW)
    )
    assert assembled.view is not None
    entry = caseload_entry(ref("mw-1"), assembled.view)
    assert entry is not None
    assert entry.roles == [PractitionerRole.COMMUNITY_MIDWIFE]
    assert entry.missed_appointments == 1
    assert entry.next_appointment == NOW + timedelta(days=7)
    assert entry.expected_delivery_dates
    assert entry.lead_practitioner is not None
    assert assembled.view.assessments == []  # not part of a caseload line: not gated, not sent
    assert caseload_entry(ref("someone-else"), assembled.view) is None


def test_not_sent_moves_every_disclosed_item_to_withheld() -> None:
    [mother] = view(MIDWIFE).disclosures
    unsent = not_sent(mother, "not sent")
    assert unsent.items == ()
    before = {(i.category, i.controller) for i in mother.items}
    before |= {(w.category, w.controller) for w in mother.withheld}
    assert {(w.category, w.controller) for w in unsent.withheld} == before
