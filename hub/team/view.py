"""Team-around-the-family views, assembled from items and the sharing gate (pure; ADR 0013).

A view is built in three steps:

1. choose the items the view would *show* (active plans only, upcoming and missed appointments
   only, ...) — so the disclosure log never records as disclosed what was not sent;
2. hand each member's chosen items to the gate, **one release (and one disclosure) per person**,
   as the alert reads do; a member's row is itself an item, released on the category and
   controller of the record that makes them a member (a relationship recorded on the mother, a
   birth registration, the person's own registration) and decided as data about the person whose
   record holds it;
3. assemble the sections from what the gate released.

The gate is a function argument, so the assembly is tested with the real policy and agreement
and no HTTP; :mod:`hub.services.team` passes :meth:`hub.services.release.SharingContext.release`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime

from hub.disclosures import Disclosure, WithheldItem
from hub.practitioners import PractitionerRef
from hub.sharing.gate import Item, Release
from hub.sharing.policy import Subject
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
    TeamItem,
)
from hub.team.models import (
    AppointmentOut,
    AssessmentOut,
    BirthOut,
    CaseloadEntryOut,
    ClosureOut,
    DemographicsOut,
    MemberOut,
    PlanOut,
    PractitionerOut,
    PregnancyOut,
    ProgrammeOut,
    ReferralOut,
    TeamOut,
)
from hub.vocabulary import PractitionerRole, Relationship

# The gate for one person: (subject, items, the person's other identifier keys) -> release.
Gate = Callable[[Subject, Sequence[Item[str]], Sequence[str]], Release[str]]


@dataclass(frozen=True)
class MemberInput:
    """A member as the person index and the team store know them (unfiltered)."""

    person_id: str
    relationship: str  # a Relationship value, ANCHOR, or SELF for a person in no family
    keys: tuple[str, ...]  # identifier keys, the primary one first
    items: tuple[tuple[str, TeamItem], ...]  # (subject key stored under, item)


# -- which items a view shows ----------------------------------------------------------------

Wanted = Callable[[TeamItem], bool]


def shown_in_team(now: datetime) -> Wanted:
    """The family view: everything but ended plans and involvements, and past or settled
    appointments."""

    def wanted(item: TeamItem) -> bool:
        body = item.body
        if isinstance(body, Plan | Involvement):
            return body.active
        if isinstance(body, AppointmentItem):
            return _upcoming(body, now) or body.status is AppointmentStatus.MISSED
        return True

    return wanted


def shown_in_caseload(practitioner: PractitionerRef, now: datetime) -> Wanted:
    """A caseload line: membership, the practitioner's own roles and the lead, active plans,
    programmes, due dates, next and missed appointments — nothing else is gated or sent."""
    team = shown_in_team(now)

    def wanted(item: TeamItem) -> bool:
        body = item.body
        if isinstance(body, Involvement):
            return body.active and (
                _is(practitioner, body.organisation_code, body.practitioner_id)
                or body.role is PractitionerRole.LEAD_PRACTITIONER
            )
        if isinstance(body, Assessment | Referral | Closure):
            return False
        return team(item)

    return wanted


def _upcoming(body: AppointmentItem, now: datetime) -> bool:
    return body.status is AppointmentStatus.BOOKED and body.start > now


# -- assembly --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Assembled:
    view: TeamOut | None  # None: the reader may see nothing at all about the family
    disclosures: list[Disclosure]


def _value(key: str, item: TeamItem) -> str:
    return f"{key}#{item.item_id}"


def _member_value(person_id: str) -> str:
    return f"member|{person_id}"


def assemble_team(
    family_key: str | None,
    members: Sequence[MemberInput],
    gate: Gate,
    now: datetime,
    wanted: Wanted | None = None,
) -> Assembled:
    """Gate each member's items and assemble the view; None if nothing was released."""
    wanted = wanted or shown_in_team(now)
    owner_of_key = {key: m.person_id for m in members for key in m.keys}
    released: set[str] = set()
    disclosures: list[Disclosure] = []
    for member in members:
        items: list[Item[str]] = []
        for key, item in member.items:
            if not wanted(item):
                continue
            items.append(Item(item.category, item.controller, _value(key, item)))
            for person_id in _membership_made_by(member.person_id, item, owner_of_key):
                items.append(Item(item.category, item.controller, _member_value(person_id)))
        if not member.keys:
            continue
        subject = Subject(member.keys[0], family_key)
        outcome = gate(subject, items, member.keys[1:])
        released.update(outcome.released)
        if outcome.disclosure is not None:
            disclosures.append(outcome.disclosure)
    if not released:
        return Assembled(None, disclosures)
    return Assembled(_sections(family_key, members, released, now), disclosures)


def _membership_made_by(holder: str, item: TeamItem, owner_of_key: dict[str, str]) -> list[str]:
    """The members whose place in the family this item, held by ``holder``, records."""
    body = item.body
    if isinstance(body, Related):
        related = {owner_of_key[k] for k in body.related_keys if k in owner_of_key}
        return sorted({holder, *related})
    if isinstance(body, Birth | Demographics):
        return [holder]
    return []


def _sections(
    family_key: str | None, members: Sequence[MemberInput], released: set[str], now: datetime
) -> TeamOut:
    owner_of_key = {key: m.person_id for m in members for key in m.keys}
    shown: list[tuple[MemberInput, TeamItem]] = [
        (m, item) for m in members for key, item in m.items if _value(key, item) in released
    ]
    births = {
        m.person_id: (item.body.birth_date, item.controller)
        for m, item in shown
        if isinstance(item.body, Birth)
    }
    practitioners = sorted(
        (
            _practitioner(m.person_id, item, item.body)
            for m, item in shown
            if isinstance(item.body, Involvement)
        ),
        key=lambda p: (p.since, p.practitioner_id, p.person_id),
    )
    leads = [p for p in practitioners if p.role is PractitionerRole.LEAD_PRACTITIONER]
    appointments = sorted(
        (
            _appointment(m.person_id, item, item.body)
            for m, item in shown
            if isinstance(item.body, AppointmentItem)
        ),
        key=lambda a: (a.start, a.appointment_id, a.person_id),
    )
    return TeamOut(
        family_key=family_key,
        as_of=now,
        members=[
            _member(m, [i for n, i in shown if n is m])
            for m in members
            if _member_value(m.person_id) in released
        ],
        lead_practitioner=leads[-1] if leads else None,  # the most recently assigned
        practitioners=practitioners,
        active_plans=[
            PlanOut(
                person_id=m.person_id,
                plan_id=b.plan_id,
                plan_type=b.plan_type,
                started_on=b.started_on,
                category=b.category,
                organisation_code=item.controller,
                local_name=b.local_name,
                statute=b.statute,
            )
            for m, item in shown
            if isinstance(b := item.body, Plan) and b.active
        ],
        assessments=[
            AssessmentOut(
                person_id=m.person_id,
                assessment_id=b.assessment_id,
                assessment_type=b.assessment_type,
                started_on=b.started_on,
                completed_on=b.completed_on,
                factors=list(b.factors),
                organisation_code=item.controller,
            )
            for m, item in shown
            if isinstance(b := item.body, Assessment)
        ],
        referrals=[
            ReferralOut(
                person_id=m.person_id,
                referral_id=b.referral_id,
                service=b.service,
                received_at=b.received_at,
                referral_source=b.referral_source,
                primary_need=b.primary_need,
                organisation_code=item.controller,
            )
            for m, item in shown
            if isinstance(b := item.body, Referral)
        ],
        case_closures=[
            ClosureOut(
                person_id=m.person_id,
                case_id=b.case_id,
                closed_on=b.closed_on,
                reason=b.reason,
                organisation_code=item.controller,
            )
            for m, item in shown
            if isinstance(b := item.body, Closure)
        ],
        programmes=[
            _programme(m.person_id, item, b)
            for m, item in shown
            if isinstance(b := item.body, Programme)
        ],
        pregnancies=[
            PregnancyOut(
                person_id=m.person_id,
                unborn_person_id=next(
                    (owner_of_key[k] for k in b.related_keys if k in owner_of_key), None
                ),
                expected_delivery_date=b.expected_delivery_date,
                organisation_code=item.controller,
            )
            for m, item in shown
            if isinstance(b := item.body, Related) and b.relationship is Relationship.UNBORN_CHILD
        ],
        births=[
            BirthOut(person_id=person_id, birth_date=born, organisation_code=controller)
            for person_id, (born, controller) in sorted(births.items())
        ],
        upcoming_appointments=[
            a for a in appointments if a.status is AppointmentStatus.BOOKED and a.start > now
        ],
        missed_appointments=[a for a in appointments if a.status is AppointmentStatus.MISSED],
    )


def _member(member: MemberInput, shown: list[TeamItem]) -> MemberOut:
    """A member's row, with the demographics released (several sources: first value wins)."""
    records = [i.body for i in shown if isinstance(i.body, Demographics)]
    demographics = None
    if records:

        def first(field: str) -> str | None:
            return next((getattr(r, field) for r in records if getattr(r, field)), None)

        demographics = DemographicsOut(
            person_key=member.keys[0],
            nhs_number=first("nhs_number"),
            given_name=first("given_name"),
            family_name=first("family_name"),
            birth_date=next((r.birth_date for r in records if r.birth_date), None),
            postcode=first("postcode"),
        )
    return MemberOut(
        person_id=member.person_id, relationship=member.relationship, demographics=demographics
    )


def _practitioner(person_id: str, item: TeamItem, body: Involvement) -> PractitionerOut:
    return PractitionerOut(
        person_id=person_id,
        practitioner_id=body.practitioner_id,
        name=body.name,
        role=body.role,
        organisation_code=body.organisation_code,
        contact=body.contact,
        scope=body.scope,
        since=body.since,
        recorded_by=item.controller,
    )


def _programme(person_id: str, item: TeamItem, body: Programme) -> ProgrammeOut:
    return ProgrammeOut(
        person_id=person_id,
        programme=body.programme,
        pathway=body.pathway,
        accepted_on=body.accepted_on,
        sessions_attended=body.sessions_attended,
        sessions_planned=body.sessions_planned,
        stage=body.stage,
        completed=body.completed,
        organisation_code=item.controller,
    )


def _appointment(person_id: str, item: TeamItem, body: AppointmentItem) -> AppointmentOut:
    return AppointmentOut(
        person_id=person_id,
        appointment_id=body.appointment_id,
        start=body.start,
        end=body.end,
        service_type=body.service_type,
        description=body.description,
        location=body.location,
        status=body.status,
        organisation_code=item.controller,
    )


def _is(practitioner: PractitionerRef, organisation_code: str, practitioner_id: str) -> bool:
    return practitioner == PractitionerRef(
        organisation_code=organisation_code, practitioner_id=practitioner_id
    )


def caseload_entry(practitioner: PractitionerRef, view: TeamOut) -> CaseloadEntryOut | None:
    """A family's caseload line; None when the reader may not see the practitioner is in it
    (the line itself would disclose the involvement). A namesake in another organisation is
    not the practitioner."""
    own = [
        p for p in view.practitioners if _is(practitioner, p.organisation_code, p.practitioner_id)
    ]
    if not own:
        return None
    return CaseloadEntryOut(
        family_key=view.family_key,
        members=view.members,
        roles=sorted({p.role for p in own}),
        since=min(p.since for p in own),
        lead_practitioner=view.lead_practitioner,
        active_plans=sorted({p.plan_type for p in view.active_plans}),
        programmes=view.programmes,
        expected_delivery_dates=sorted(
            {p.expected_delivery_date for p in view.pregnancies if p.expected_delivery_date}
        ),
        next_appointment=min((a.start for a in view.upcoming_appointments), default=None),
        missed_appointments=len(view.missed_appointments),
    )


def not_sent(disclosure: Disclosure, why: str) -> Disclosure:
    """A disclosure whose released items were, in the end, not sent: all recorded as withheld."""
    withheld = {(w.category, w.controller): w for w in disclosure.withheld}
    for item in disclosure.items:
        withheld[(item.category, item.controller)] = WithheldItem(
            category=item.category, controller=item.controller, outcome="DENY", reason=why
        )
    return disclosure.model_copy(update={"items": (), "withheld": tuple(withheld.values())})
