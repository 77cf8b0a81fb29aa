"""The outcomes projection's fold: what the monitoring needs to know of each person.

Pure: ``fold(record, event) -> record``. A record is one person's (one subject key's) facts
the programme figures are counted from: their programme episodes (referral, acceptance or
decline, pathway and its changes, first contact, sessions, Family Group Conference, dad's worker,
exit), their characteristics and ethnicity at referral, their appointments' outcomes, their
assessment scores, and, for a baby, the birth, the mother, the plans and where care went. The
figures (:mod:`hub.outcomes.figures`) are computed from all records at report time, so a new
figure needs no replay; a new fact does (``hub replay outcomes``).

Every fact is kept under the id the source gave it (referral, plan, appointment, event id), so
a re-sent event changes nothing. A person's record names other people only as the identifier
keys of a baby's mother; the store removes records naming an erased person.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date
from typing import Final

from pydantic import BaseModel, ConfigDict, TypeAdapter

from hub.events import CaseEvent
from hub.payloads import (
    AppointmentAttended,
    AppointmentCancelled,
    AppointmentMissed,
    AssessmentScoreRecorded,
    BirthRegistered,
    CharacteristicsRecorded,
    PermanenceRecorded,
    PlanEnded,
    PlanStarted,
    ProgrammeActivityRecorded,
    ProgrammeExited,
    ProgrammePathwayChanged,
    ProgrammeProgress,
    ProgrammeReferralAccepted,
    ProgrammeReferralDeclined,
    ReferralReceived,
    RelationshipRecorded,
)
from hub.vocabulary import (
    Characteristic,
    EthnicCategory,
    ExitReason,
    PermanenceOutcome,
    PlanType,
    ProgrammeActivity,
    Relationship,
    ScoreInstrument,
    ScoreStage,
)

PROJECTION: Final = "outcomes"
# The voluntary activity connector's service type for a programme's own sessions: not a health
# appointment (hub.connectors.voluntary.activity.ActivityConfig).
PROGRAMME_SESSION: Final = "programme-session"


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Episode(_Model):
    """One referral to a programme and what came of it."""

    referral_id: str
    programme: str
    organisation: str  # the organisation whose system first told of the episode
    referred_on: date | None = None
    accepted_on: date | None = None
    declined_on: date | None = None
    pathway_at_referral: str | None = None
    pathway: str | None = None
    pathway_changes: tuple[tuple[str | None, str, date], ...] = ()
    expected_delivery_date: date | None = None
    first_contact_on: date | None = None
    fgc_offered: bool = False
    fgc_held: bool = False
    dads_worker: bool = False
    sessions_attended: int | None = None
    sessions_offered: int | None = None
    exited_on: date | None = None
    exit_reason: ExitReason | None = None

    @property
    def started_on(self) -> date | None:
        """The date the episode is counted in: referral, else acceptance, else decline."""
        return self.referred_on or self.accepted_on or self.declined_on


class Plan(_Model):
    plan_type: PlanType
    started_on: date
    ended_on: date | None = None


class Attendance(_Model):
    on: date
    attended: bool
    health: bool  # a health appointment, not one of the programme's own sessions


class Score(_Model):
    instrument: ScoreInstrument
    score: int
    measured_on: date
    stage: ScoreStage | None = None
    programme: str | None = None


class Characteristics(_Model):
    characteristics: tuple[Characteristic, ...] = ()
    ethnicity: EthnicCategory | None = None
    recorded_on: date | None = None


class PersonOutcomes(_Model):
    """One person's facts for the programme figures (the module's docstring)."""

    subject_key: str
    identifier_keys: tuple[str, ...] = ()  # every key the person's events named them by
    episodes: dict[str, Episode] = {}
    characteristics: Characteristics = Characteristics()
    expected_delivery_date: date | None = None
    birth_date: date | None = None
    mother_keys: tuple[str, ...] = ()
    plans: dict[str, Plan] = {}
    permanence: dict[str, tuple[PermanenceOutcome, date]] = {}
    appointments: dict[str, Attendance] = {}
    scores: dict[str, Score] = {}

    def refs(self) -> tuple[str, ...]:
        """The other people this record names (by identifier key): a baby's mother."""
        return self.mother_keys


RECORD: Final = TypeAdapter(PersonOutcomes)


def empty_record(subject_key: str) -> PersonOutcomes:
    return PersonOutcomes(subject_key=subject_key)


def fold(record: PersonOutcomes, event: CaseEvent) -> PersonOutcomes:
    """The record with ``event``'s fact in it (unchanged, but for the keys, by any other)."""
    keys = tuple(sorted({*record.identifier_keys, *(i.key() for i in event.subject)}))
    if keys != record.identifier_keys:
        record = record.model_copy(update={"identifier_keys": keys})
    payload = event.payload
    on = event.occurred_at.date()
    if isinstance(payload, ReferralReceived):
        return _episode(
            record,
            event,
            payload.referral_id,
            payload.service,
            referred_on=on,
            pathway_at_referral=payload.pathway,
            pathway=payload.pathway,
            expected_delivery_date=payload.expected_delivery_date,
        )
    if isinstance(payload, ProgrammeReferralAccepted):
        episode = record.episodes.get(payload.referral_id)
        pathway = payload.pathway or (episode.pathway if episode else None)
        first_pathway = (episode.pathway_at_referral if episode else None) or pathway
        return _episode(
            record,
            event,
            payload.referral_id,
            payload.programme,
            accepted_on=payload.accepted_on,
            pathway=pathway,
            pathway_at_referral=first_pathway,
        )
    if isinstance(payload, ProgrammeReferralDeclined):
        return _episode(
            record, event, payload.referral_id, payload.programme, declined_on=payload.declined_on
        )
    if isinstance(payload, ProgrammePathwayChanged):
        episode = record.episodes.get(payload.referral_id)
        change = (payload.from_pathway, payload.to_pathway, payload.changed_on)
        changes = episode.pathway_changes if episode else ()
        return _episode(
            record,
            event,
            payload.referral_id,
            payload.programme,
            pathway=payload.to_pathway,
            pathway_changes=changes if change in changes else (*changes, change),
        )
    if isinstance(payload, ProgrammeActivityRecorded):
        return _activity(record, event, payload)
    if isinstance(payload, ProgrammeProgress):
        referral = payload.referral_id or _latest_episode(record, payload.programme)
        if referral is None:
            return record  # progress in a programme the hub saw no referral to: nothing to count
        return _episode(
            record,
            event,
            referral,
            payload.programme,
            sessions_attended=payload.sessions_attended,
            sessions_offered=payload.sessions_planned,
        )
    if isinstance(payload, ProgrammeExited):
        return _episode(
            record,
            event,
            payload.referral_id,
            payload.programme,
            exited_on=payload.exited_on,
            exit_reason=payload.reason,
        )
    if isinstance(payload, CharacteristicsRecorded):
        return _characteristics(record, payload)
    if isinstance(payload, RelationshipRecorded):
        if payload.relationship is Relationship.UNBORN_CHILD and payload.expected_delivery_date:
            return record.model_copy(
                update={"expected_delivery_date": payload.expected_delivery_date}
            )
        return record
    if isinstance(payload, BirthRegistered):
        mothers = tuple(sorted({i.key() for i in payload.mother}))
        return record.model_copy(update={"birth_date": payload.birth_date, "mother_keys": mothers})
    if isinstance(payload, PlanStarted):
        plan = Plan(plan_type=payload.plan_type, started_on=payload.started_on)
        old = record.plans.get(payload.plan_id)
        if old is not None:
            plan = plan.model_copy(update={"ended_on": old.ended_on})
        return record.model_copy(update={"plans": {**record.plans, payload.plan_id: plan}})
    if isinstance(payload, PlanEnded):
        old = record.plans.get(payload.plan_id)
        ended = (old or Plan(plan_type=payload.plan_type, started_on=payload.ended_on)).model_copy(
            update={"ended_on": payload.ended_on}
        )
        return record.model_copy(update={"plans": {**record.plans, payload.plan_id: ended}})
    if isinstance(payload, PermanenceRecorded):
        entry = (payload.outcome, payload.recorded_on)
        permanence = {**record.permanence, str(event.event_id): entry}
        return record.model_copy(update={"permanence": permanence})
    if isinstance(payload, AppointmentAttended | AppointmentMissed):
        appointment = payload.appointment
        attendance = Attendance(
            on=appointment.start.date(),
            attended=isinstance(payload, AppointmentAttended),
            health=appointment.service_type != PROGRAMME_SESSION,
        )
        appointments = {**record.appointments, appointment.appointment_id: attendance}
        return record.model_copy(update={"appointments": appointments})
    if isinstance(payload, AppointmentCancelled):
        appointments = dict(record.appointments)
        appointments.pop(payload.appointment.appointment_id, None)
        return record.model_copy(update={"appointments": appointments})
    if isinstance(payload, AssessmentScoreRecorded):
        score = Score(
            instrument=payload.instrument,
            score=payload.score,
            measured_on=payload.measured_on,
            stage=payload.stage,
            programme=payload.programme,
        )
        scores = {**record.scores, str(event.event_id): score}
        return record.model_copy(update={"scores": scores})
    return record


def _episode(
    record: PersonOutcomes, event: CaseEvent, referral_id: str, programme: str, **changes: object
) -> PersonOutcomes:
    """The record with episode ``referral_id`` created (by this event's organisation) or changed;
    a field already set keeps its value unless this event sets it."""
    episode = record.episodes.get(referral_id) or Episode(
        referral_id=referral_id,
        programme=programme,
        organisation=event.source.organisation_code,
    )
    update = {name: value for name, value in changes.items() if value is not None}
    episode = episode.model_copy(update=update)
    return record.model_copy(update={"episodes": {**record.episodes, referral_id: episode}})


def _activity(
    record: PersonOutcomes, event: CaseEvent, payload: ProgrammeActivityRecorded
) -> PersonOutcomes:
    episode = record.episodes.get(payload.referral_id)
    update: dict[str, object] = {}
    if payload.activity is ProgrammeActivity.FIRST_CONTACT:
        earlier = episode.first_contact_on if episode else None
        update["first_contact_on"] = min(filter(None, (earlier, payload.occurred_on)))
    elif payload.activity is ProgrammeActivity.FAMILY_GROUP_CONFERENCE_OFFERED:
        update["fgc_offered"] = True
    elif payload.activity is ProgrammeActivity.FAMILY_GROUP_CONFERENCE_HELD:
        update["fgc_offered"] = update["fgc_held"] = True
    elif payload.activity is ProgrammeActivity.DADS_WORKER_INVOLVED:
        update["dads_worker"] = True
    return _episode(record, event, payload.referral_id, payload.programme, **update)


def _latest_episode(record: PersonOutcomes, programme: str) -> str | None:
    """The person's most recent episode of ``programme`` (older progress events name none)."""
    found = [e for e in record.episodes.values() if e.programme == programme]
    found.sort(key=lambda e: (e.started_on or date.min, e.referral_id))
    return found[-1].referral_id if found else None


def _characteristics(record: PersonOutcomes, payload: CharacteristicsRecorded) -> PersonOutcomes:
    """The latest record wins (it replaces, at referral or on review); ethnicity once stated
    is kept when a later record does not state it."""
    current = record.characteristics
    if current.recorded_on is not None and payload.recorded_on < current.recorded_on:
        return record  # an older record arriving late
    found = Characteristics(
        characteristics=tuple(sorted({c.characteristic for c in payload.characteristics})),
        ethnicity=payload.ethnicity or current.ethnicity,
        recorded_on=payload.recorded_on,
    )
    return record.model_copy(update={"characteristics": found})


def merge_people(records: Iterable[PersonOutcomes]) -> list[PersonOutcomes]:
    """One record per person: records that share an identifier key are the same person (a
    baby's birth row names her NHS number and the council's child id; the council's care
    periods name the child id alone), so their facts are counted together."""
    records = list(records)
    parent = list(range(len(records)))

    def root(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    owner: dict[str, int] = {}
    for index, record in enumerate(records):
        for key in (record.subject_key, *record.identifier_keys):
            if key in owner:
                parent[root(index)] = root(owner[key])
            else:
                owner[key] = index
    groups: dict[int, list[PersonOutcomes]] = {}
    for index, record in enumerate(records):
        groups.setdefault(root(index), []).append(record)
    return [_merged(group) for group in groups.values()]


def _merged(group: list[PersonOutcomes]) -> PersonOutcomes:
    if len(group) == 1:
        return group[0]
    group = sorted(group, key=lambda r: r.subject_key)
    episodes: dict[str, Episode] = {}
    for record in group:
        for referral, episode in record.episodes.items():
            known = episodes.get(referral)
            if known is None:
                episodes[referral] = episode
            else:
                set_here = {k: v for k, v in episode.model_dump().items() if v not in (None, ())}
                episodes[referral] = known.model_copy(update=set_here)
    latest = max(group, key=lambda r: r.characteristics.recorded_on or date.min)
    return PersonOutcomes(
        subject_key=group[0].subject_key,
        identifier_keys=tuple(
            sorted({k for r in group for k in (r.subject_key, *r.identifier_keys)})
        ),
        episodes=episodes,
        characteristics=latest.characteristics,
        expected_delivery_date=next(
            (r.expected_delivery_date for r in group if r.expected_delivery_date), None
        ),
        birth_date=next((r.birth_date for r in group if r.birth_date), None),
        mother_keys=tuple(sorted({k for r in group for k in r.mother_keys})),
        plans={k: v for r in group for k, v in r.plans.items()},
        permanence={k: v for r in group for k, v in r.permanence.items()},
        appointments={k: v for r in group for k, v in r.appointments.items()},
        scores={k: v for r in group for k, v in r.scores.items()},
    )
