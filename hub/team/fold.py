"""The team-around-the-family projection as a pure fold, per person (ADR 0013).

What the hub knows about one person that a team around the family needs — who is involved,
which plans and assessments are open, which programme and pathway, the pregnancy or birth, the
appointments — is kept as *items*. Each item carries the data category the connector gave its
event and the organisation that controls it (the event's source), so the sharing gate can decide
it item by item at read time; the projection itself stores everything unfiltered (ADR 0007).

The family is not part of this state: membership is read from the person index when a view is
built, so a member who joins later, or a merge, is followed without rewriting items.

``fold(state, event)`` returns the new state and the items that changed. It is idempotent (the
same event twice changes nothing: item ids come from the source and the record's own id) and
deterministic (it never reads the clock: "upcoming" is decided by the view, with the reader's
time).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import date, datetime
from enum import StrEnum
from typing import Annotated, Final, Literal

from pydantic import AwareDatetime, Field, TypeAdapter

from hub.events import CaseEvent
from hub.payloads import (
    AppointmentAttended,
    AppointmentBooked,
    AppointmentCancelled,
    AppointmentMissed,
    AppointmentModified,
    AppointmentRescheduled,
    AssessmentCompleted,
    BirthRegistered,
    CaseClosed,
    FrozenModel,
    PersonRegistered,
    PlanEnded,
    PlanStarted,
    PractitionerAssigned,
    PractitionerUnassigned,
    ProgrammeProgress,
    ProgrammeReferralAccepted,
    ReferralReceived,
    RelationshipRecorded,
)
from hub.vocabulary import (
    AssessmentType,
    AssignmentScope,
    DataCategory,
    PlanType,
    PractitionerRole,
    Relationship,
)

PROJECTION: Final = "team_around_the_family"


class AppointmentStatus(StrEnum):
    BOOKED = "BOOKED"
    CANCELLED = "CANCELLED"
    ATTENDED = "ATTENDED"
    MISSED = "MISSED"


class Demographics(FrozenModel):
    kind: Literal["demographics"] = "demographics"
    nhs_number: str | None = None
    given_name: str | None = None
    family_name: str | None = None
    birth_date: date | None = None
    postcode: str | None = None


class Involvement(FrozenModel):
    """A practitioner in the team: ``since`` is when the assignment first took effect;
    ``until`` is when it ended (kept for history, like an ended plan; views leave it out)."""

    kind: Literal["practitioner"] = "practitioner"
    practitioner_id: str
    name: str
    role: PractitionerRole
    organisation_code: str
    contact: str | None = None
    scope: AssignmentScope
    since: AwareDatetime
    until: AwareDatetime | None = None

    @property
    def active(self) -> bool:
        return self.until is None


class Plan(FrozenModel):
    kind: Literal["plan"] = "plan"
    plan_id: str
    plan_type: PlanType
    started_on: date | None = None
    category: str | None = None
    ended_on: date | None = None
    end_reason: str | None = None
    local_name: str | None = None  # what its jurisdiction calls it (ADR 0032)
    statute: str | None = None

    @property
    def active(self) -> bool:
        return self.started_on is not None and self.ended_on is None


class Assessment(FrozenModel):
    kind: Literal["assessment"] = "assessment"
    assessment_id: str
    assessment_type: AssessmentType
    started_on: date | None = None
    completed_on: date
    factors: tuple[str, ...] = ()


class Referral(FrozenModel):
    kind: Literal["referral"] = "referral"
    referral_id: str
    service: str
    received_at: AwareDatetime
    referral_source: str | None = None
    primary_need: str | None = None


class Closure(FrozenModel):
    kind: Literal["closure"] = "closure"
    case_id: str
    closed_on: date
    reason: str | None = None


class Programme(FrozenModel):
    """On a programme: accepted (with pathway) and/or progress reported, in either order."""

    kind: Literal["programme"] = "programme"
    programme: str
    referral_id: str | None = None
    pathway: str | None = None
    accepted_on: date | None = None
    sessions_attended: int | None = None
    sessions_planned: int | None = None
    stage: str | None = None
    completed: bool = False


class Related(FrozenModel):
    """A relationship recorded on this person: ``related_keys`` are the other person's
    identifier keys (an unborn child is known by its expected delivery date)."""

    kind: Literal["relationship"] = "relationship"
    relationship: Relationship
    related_keys: tuple[str, ...]
    expected_delivery_date: date | None = None


class Birth(FrozenModel):
    kind: Literal["birth"] = "birth"
    birth_date: date
    mother_keys: tuple[str, ...]


class AppointmentItem(FrozenModel):
    kind: Literal["appointment"] = "appointment"
    appointment_id: str
    start: AwareDatetime
    end: AwareDatetime | None = None
    service_type: str | None = None
    description: str | None = None
    location: str | None = None
    practitioner_ids: tuple[str, ...] = ()
    status: AppointmentStatus


Body = Annotated[
    Demographics
    | Involvement
    | Plan
    | Assessment
    | Referral
    | Closure
    | Programme
    | Related
    | Birth
    | AppointmentItem,
    Field(discriminator="kind"),
]
BODY: Final[TypeAdapter[Body]] = TypeAdapter(Body)
# A lookup of an item's current body by id, for the rules that update an item.
_Previous = Callable[[str], Body | None]


@dataclass(frozen=True)
class TeamItem:
    """One thing known about a person, with what the gate needs to decide it."""

    item_id: str
    category: DataCategory
    controller: str  # the organisation code of the source that recorded it
    body: Body

    @property
    def kind(self) -> str:
        return self.body.kind

    def refs(self) -> tuple[str, ...]:
        """Other people's identifier keys this item names (purged when they are erased)."""
        if isinstance(self.body, Related):
            return self.body.related_keys
        if isinstance(self.body, Birth):
            return self.body.mother_keys
        return ()


@dataclass(frozen=True)
class TeamState:
    subject_key: str
    items: dict[str, TeamItem] = field(default_factory=dict)


def empty_state(key: str) -> TeamState:
    return TeamState(subject_key=key)


def fold(state: TeamState, event: CaseEvent) -> tuple[TeamState, list[TeamItem]]:
    """Apply one event to one person's items; return the new state and the items that changed."""
    if event.subject_key() != state.subject_key:
        raise ValueError(
            f"event {event.event_id} is about {event.subject_key()!r}, not {state.subject_key!r}"
        )
    found = _item_for(state, event)
    if found is None:
        return state, []
    item_id, body = found
    item = TeamItem(item_id, event.data_category, event.source.organisation_code, body)
    if state.items.get(item_id) == item:
        return state, []
    return replace(state, items={**state.items, item_id: item}), [item]


def _item_for(state: TeamState, event: CaseEvent) -> tuple[str, Body] | None:
    """The id and new body of the item an event creates or updates; None if it makes none."""
    payload, org = event.payload, event.source.organisation_code

    def previous(item_id: str) -> Body | None:
        item = state.items.get(item_id)
        return None if item is None else item.body

    if isinstance(payload, PersonRegistered):
        item_id = f"demographics|{org}"
        old = previous(item_id)
        before = old if isinstance(old, Demographics) else Demographics()
        return item_id, Demographics(
            nhs_number=event.nhs_number() or before.nhs_number,
            given_name=payload.given_name or before.given_name,
            family_name=payload.family_name or before.family_name,
            birth_date=payload.birth_date or before.birth_date,
            postcode=payload.postcode or before.postcode,
        )
    if isinstance(payload, PractitionerAssigned):
        item_id = _involvement_id(org, payload)
        old = previous(item_id)
        since = event.occurred_at
        if isinstance(old, Involvement):
            since = min(since, old.since)  # a re-sent or repeated assignment keeps "since"
        return item_id, Involvement(
            practitioner_id=payload.practitioner_id,
            name=payload.name,
            role=payload.role,
            organisation_code=payload.organisation_code,
            contact=payload.contact,
            scope=payload.scope,
            since=since,
        )
    if isinstance(payload, PractitionerUnassigned):
        item_id = _involvement_id(org, payload)
        old = previous(item_id)
        if not isinstance(old, Involvement) or old.organisation_code != payload.organisation_code:
            return None  # nothing held to end
        return item_id, old.model_copy(update={"until": event.occurred_at})
    if isinstance(payload, PlanStarted | PlanEnded):
        return _plan(previous, org, payload)
    if isinstance(payload, AssessmentCompleted):
        return f"assessment|{org}|{payload.assessment_id}", Assessment(
            assessment_id=payload.assessment_id,
            assessment_type=payload.assessment_type,
            started_on=payload.started_on,
            completed_on=payload.completed_on,
            factors=payload.factors,
        )
    if isinstance(payload, ReferralReceived):
        return f"referral|{org}|{payload.referral_id}", Referral(
            referral_id=payload.referral_id,
            service=payload.service,
            received_at=event.occurred_at,
            referral_source=payload.referral_source,
            primary_need=payload.primary_need,
        )
    if isinstance(payload, CaseClosed):
        return f"closure|{org}|{payload.case_id}", Closure(
            case_id=payload.case_id, closed_on=payload.closed_on, reason=payload.reason
        )
    if isinstance(payload, ProgrammeReferralAccepted | ProgrammeProgress):
        return _programme(previous, org, payload)
    if isinstance(payload, RelationshipRecorded):
        related = tuple(sorted(i.key() for i in payload.related))
        return f"relationship|{org}|{payload.relationship}|{related[0]}", Related(
            relationship=payload.relationship,
            related_keys=related,
            expected_delivery_date=payload.expected_delivery_date,
        )
    if isinstance(payload, BirthRegistered):
        return f"birth|{org}", Birth(
            birth_date=payload.birth_date,
            mother_keys=tuple(sorted(i.key() for i in payload.mother)),
        )
    return _appointment(previous, event)


def _plan(previous: _Previous, org: str, payload: PlanStarted | PlanEnded) -> tuple[str, Body]:
    """Started → active; ended → kept, with its end, for history. Either may arrive first."""
    item_id = f"plan|{org}|{payload.plan_id}"
    old = previous(item_id)
    before = (
        old if isinstance(old, Plan) else Plan(plan_id=payload.plan_id, plan_type=payload.plan_type)
    )
    if isinstance(payload, PlanStarted):
        return item_id, before.model_copy(
            update={
                "plan_type": payload.plan_type,
                "started_on": payload.started_on,
                "category": payload.category,
                "local_name": payload.local_name,
                "statute": payload.statute,
            }
        )
    return item_id, before.model_copy(
        update={"ended_on": payload.ended_on, "end_reason": payload.reason}
    )


def _programme(
    previous: _Previous, org: str, payload: ProgrammeReferralAccepted | ProgrammeProgress
) -> tuple[str, Body]:
    """One item per programme: acceptance sets pathway (a B→C move updates it); progress
    updates sessions, stage and completion."""
    item_id = f"programme|{org}|{payload.programme}"
    old = previous(item_id)
    before = old if isinstance(old, Programme) else Programme(programme=payload.programme)
    if isinstance(payload, ProgrammeReferralAccepted):
        return item_id, before.model_copy(
            update={
                "referral_id": payload.referral_id,
                "pathway": payload.pathway,
                "accepted_on": payload.accepted_on,
            }
        )
    return item_id, before.model_copy(
        update={
            "sessions_attended": payload.sessions_attended,
            "sessions_planned": payload.sessions_planned,
            "stage": payload.stage,
            "completed": payload.completed,
        }
    )


_APPOINTMENT_EVENTS = (
    AppointmentBooked,
    AppointmentRescheduled,
    AppointmentModified,
    AppointmentCancelled,
    AppointmentAttended,
    AppointmentMissed,
)


def _appointment(previous: _Previous, event: CaseEvent) -> tuple[str, Body] | None:
    """Booked/modified keep an outcome already known (a re-sent booking does not undo a
    no-show); a reschedule books the appointment again; cancelled/attended/missed set it."""
    payload = event.payload
    if not isinstance(payload, _APPOINTMENT_EVENTS):
        return None
    appointment = payload.appointment
    item_id = (
        f"appointment|{event.source.organisation_code}|{event.source.system}|"
        f"{appointment.appointment_id}"
    )
    old = previous(item_id)
    status = old.status if isinstance(old, AppointmentItem) else AppointmentStatus.BOOKED
    if isinstance(payload, AppointmentRescheduled):
        status = AppointmentStatus.BOOKED
    elif isinstance(payload, AppointmentCancelled):
        status = AppointmentStatus.CANCELLED
    elif isinstance(payload, AppointmentAttended):
        status = AppointmentStatus.ATTENDED
    elif isinstance(payload, AppointmentMissed):
        status = AppointmentStatus.MISSED
    return item_id, AppointmentItem(
        appointment_id=appointment.appointment_id,
        start=appointment.start,
        end=appointment.end,
        service_type=appointment.service_type,
        description=appointment.description,
        location=appointment.location,
        practitioner_ids=appointment.practitioner_ids,
        status=status,
    )


def is_upcoming(item: TeamItem, now: datetime) -> bool:
    body = item.body
    return (
        isinstance(body, AppointmentItem)
        and body.status is AppointmentStatus.BOOKED
        and body.start > now
    )


def _involvement_id(controller: str, payload: PractitionerAssigned | PractitionerUnassigned) -> str:
    """One involvement per recorder, practitioner and role; the practitioner is her
    organisation and id (an id alone names nobody, ADR 0022)."""
    who = f"{payload.organisation_code}|{payload.practitioner_id}"
    return f"practitioner|{controller}|{who}|{payload.role}"
