"""Programme activity from voluntary and community sector partners (CSV upload or webhook).

Charities rarely run a system with an integration API, so the hub defines one small format: one
row (or one webhook ``data`` object) per fact, named by ``event``. Columns:

=====================  ===========================================================================
``record_id``          the partner's id for the fact (required; with ``event`` it keys the row)
``event``              ``referral_received``, ``referral_accepted``, ``referral_declined``,
                       ``pathway_changed``, ``programme_activity``, ``programme_exited``,
                       ``key_worker_allocated``, ``session_attended``, ``session_missed``,
                       ``programme_progress``, ``assessment_score``, ``characteristics_recorded``,
                       ``birth_recorded``, ``consent_recorded``, ``consent_withdrawn``
``occurred_on``        ``YYYY-MM-DD`` or ``DD/MM/YYYY``
``nhs_number``         the person's NHS number, if known (checked); else / also ``person_id``
``person_id``          the partner's own id for the person
``programme``          e.g. ``Strengthening Families``, ``Baby and Me`` (referral, progress)
``pathway``            e.g. ``A``, ``B``, ``C`` (referral, optional)
``worker_id``          key worker / lead practitioner id (allocation; sessions optional)
``worker_name``        (allocation) and ``worker_role``: ``key_worker`` or ``lead_practitioner``
``session_id``         the session (attended / missed), with ``session_start`` (ISO date-time)
``sessions_attended``  progress: so far; ``sessions_planned``, ``stage``, ``completed`` (yes/no)
``referral_id``        the episode a programme row belongs to (default: the referral's record_id)
``instrument``         ``SDQ``, ``WEMWBS`` or ``SWEMWBS``, with ``score``, ``respondent``, ``stage``
``recipients``         consent: organisation codes, a JSON array or separated by ``;`` (and
                       ``categories``, ``purposes``, ``consent_id``, ``recorded_by``)
=====================  ===========================================================================

docs/voluntary-activity.md documents each event type with examples (a test keeps it true).
Assessment scores are special-category health data (UK GDPR Art 9): classed
``ASSESSMENT_SCORES`` / ``SPECIAL_CATEGORY`` so the policy shares them only where agreed.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import ClassVar, Final, TypeVar
from zoneinfo import ZoneInfo

from hub.connectors.sdk import (
    Classification,
    Connector,
    ConnectorConfig,
    EventBuilder,
    Fields,
    Record,
    local_identifier,
)
from hub.events import CaseEvent, EventType
from hub.nhs_number import is_valid_nhs_number, normalise_nhs_number
from hub.payloads import (
    NHS_NUMBER_SYSTEM,
    Appointment,
    AppointmentAttended,
    AppointmentMissed,
    AssessmentScoreRecorded,
    BirthRegistered,
    CharacteristicRecord,
    CharacteristicsRecorded,
    ConsentRecorded,
    ConsentWithdrawn,
    PersonIdentifier,
    PractitionerAssigned,
    ProgrammeActivityRecorded,
    ProgrammeExited,
    ProgrammePathwayChanged,
    ProgrammeProgress,
    ProgrammeReferralAccepted,
    ProgrammeReferralDeclined,
    ReferralReceived,
)
from hub.vocabulary import (
    AssignmentScope,
    Characteristic,
    DataCategory,
    EthnicCategory,
    ExitReason,
    LawfulBasis,
    PractitionerRole,
    ProgrammeActivity,
    Purpose,
    ScoreInstrument,
    ScoreStage,
    Sensitivity,
)

PROGRAMMES: Final = Classification(DataCategory.PRACTITIONER_ALLOCATION, Sensitivity.ROUTINE)
SESSIONS: Final = Classification(DataCategory.APPOINTMENTS, Sensitivity.ROUTINE)
SCORES: Final = Classification(DataCategory.ASSESSMENT_SCORES, Sensitivity.SPECIAL_CATEGORY)
CONSENT: Final = Classification(DataCategory.DEMOGRAPHICS, Sensitivity.ROUTINE)
# A parent's circumstances (mental health, substance misuse, domestic abuse, ethnicity) are
# special category (UK GDPR Art 9), held for safeguarding work: shared only where agreed.
CIRCUMSTANCES: Final = Classification(DataCategory.SAFEGUARDING, Sensitivity.SPECIAL_CATEGORY)
BIRTHS: Final = Classification(DataCategory.MATERNITY, Sensitivity.ROUTINE)
ACTIVITIES: Final = {
    "first_contact": ProgrammeActivity.FIRST_CONTACT,
    "fgc_offered": ProgrammeActivity.FAMILY_GROUP_CONFERENCE_OFFERED,
    "fgc_held": ProgrammeActivity.FAMILY_GROUP_CONFERENCE_HELD,
    "dads_worker": ProgrammeActivity.DADS_WORKER_INVOLVED,
}
SCORE_RANGES: Final = {
    ScoreInstrument.SDQ: (0, 40),
    ScoreInstrument.WEMWBS: (14, 70),
    ScoreInstrument.SWEMWBS: (7, 35),
}
ROLES: Final = {
    "key_worker": PractitionerRole.KEY_WORKER,
    "lead_practitioner": PractitionerRole.LEAD_PRACTITIONER,
}
YES_NO: Final = {"yes": True, "y": True, "true": True, "no": False, "n": False, "false": False}


class ActivityConfig(ConnectorConfig):
    """A partner's activity feed; ``programme`` is the default for rows that name none."""

    programme: str | None = None
    session_service_type: str = "programme-session"


T = TypeVar("T")
Mapper = Callable[[Fields, EventBuilder, ActivityConfig, str], CaseEvent | None]


class VoluntaryActivity(Connector[ActivityConfig]):
    name = "voluntary-activity"
    summary = "Voluntary-sector programme activity (CSV or webhook): referrals, sessions, scores"
    channels = ("extract", "upload", "webhook")
    config_model = ActivityConfig
    example_config: ClassVar = {
        "system": "homestart-lamplight",
        "organisation_code": "VCS-HOMESTART-SALFORD",
        "programme": "Strengthening Families",
    }
    key_columns = ("record_id", "event")
    required_columns = ("record_id", "event", "occurred_on")

    def map(self, record: Record, config: ActivityConfig, recorded_at: datetime) -> list[CaseEvent]:
        fields = Fields(record)
        record_id = fields.text("record_id")
        kind = fields.choice("event", {name: name for name in _MAPPERS})
        # Without a usable subject, map anyway (to report every bad field at once), then refuse.
        subject = _subject(fields, config) or (PersonIdentifier(system="-", value="-"),)
        child_id = fields.text("child_id", required=False) if kind == "birth_recorded" else None
        if child_id is not None:  # the council's id of the baby (its SSDA903 CHILD): one person
            subject = (*subject, local_identifier(config, "child", child_id))
        if record_id is None or kind is None:
            fields.check()
        assert record_id
        assert kind
        emit = EventBuilder(config, record, subject, recorded_at)
        event = _MAPPERS[kind](fields, emit, config, record_id)
        fields.check()
        assert event is not None
        return [event]


def _subject(fields: Fields, config: ActivityConfig) -> tuple[PersonIdentifier, ...]:
    identifiers = []
    nhs_number = fields.text("nhs_number", required=False)
    if nhs_number is not None:
        if is_valid_nhs_number(nhs_number):
            identifiers.append(
                PersonIdentifier(system=NHS_NUMBER_SYSTEM, value=normalise_nhs_number(nhs_number))
            )
        else:
            fields.fail("nhs_number", f"{nhs_number!r} is not a valid NHS number")
    person_id = fields.text("person_id", required=False)
    if person_id is not None:
        identifiers.append(local_identifier(config, "person", person_id))
    if nhs_number is None and person_id is None:
        fields.fail("person_id", "is required when there is no nhs_number")
    return tuple(identifiers)


def _programme(fields: Fields, config: ActivityConfig) -> str | None:
    programme = fields.text("programme", required=config.programme is None)
    return programme or config.programme


def _referral(f: Fields, emit: EventBuilder, config: ActivityConfig, rid: str) -> CaseEvent | None:
    on, programme = f.date("occurred_on"), _programme(f, config)
    if on is None or programme is None:
        return None
    payload = ProgrammeReferralAccepted(
        referral_id=f.text("referral_id", required=False) or rid,
        programme=programme,
        pathway=f.text("pathway", required=False),
        accepted_on=on,
    )
    return emit(EventType.PROGRAMME_REFERRAL_ACCEPTED, payload, occurred=on, classified=PROGRAMMES)


def _allocation(f: Fields, emit: EventBuilder, config: ActivityConfig, _: str) -> CaseEvent | None:
    on, worker = f.date("occurred_on"), f.text("worker_id")
    name, role = f.text("worker_name"), f.choice("worker_role", ROLES)
    if on is None or worker is None or name is None or role is None:
        return None
    payload = PractitionerAssigned(
        practitioner_id=worker,
        name=name,
        role=role,
        scope=AssignmentScope.FAMILY,
        organisation_code=config.organisation_code,
        contact=f.text("contact", required=False),
    )
    return emit(EventType.PRACTITIONER_ASSIGNED, payload, occurred=on, classified=PROGRAMMES)


def _session(attended: bool) -> Mapper:
    def mapper(f: Fields, emit: EventBuilder, config: ActivityConfig, _: str) -> CaseEvent | None:
        session, start = f.text("session_id"), f.text("session_start")
        if session is None or start is None:
            return None
        try:
            starts = datetime.fromisoformat(start)
        except ValueError:
            f.fail("session_start", f"{start!r} is not an ISO 8601 date-time")
            return None
        if starts.tzinfo is None:
            starts = starts.replace(tzinfo=ZoneInfo(config.timezone))
        appointment = Appointment(
            appointment_id=session,
            start=starts,
            service_type=config.session_service_type,
            description=_programme(f, config),
            location=f.text("location", required=False),
            practitioner_ids=tuple(filter(None, [f.text("worker_id", required=False)])),
        )
        if attended:
            return emit(
                EventType.APPOINTMENT_ATTENDED,
                AppointmentAttended(appointment=appointment),
                occurred=starts,
                classified=SESSIONS,
            )
        return emit(
            EventType.APPOINTMENT_MISSED,
            AppointmentMissed(appointment=appointment),
            occurred=starts,
            classified=SESSIONS,
        )

    return mapper


def _progress(f: Fields, emit: EventBuilder, config: ActivityConfig, _: str) -> CaseEvent | None:
    on, programme = f.date("occurred_on"), _programme(f, config)
    attended = f.integer("sessions_attended", low=0)
    planned = f.integer("sessions_planned", required=False, low=0)
    completed = f.choice("completed", YES_NO, required=False) or False
    if on is None or programme is None or attended is None:
        return None
    payload = ProgrammeProgress(
        programme=programme,
        sessions_attended=attended,
        sessions_planned=planned,
        stage=f.text("stage", required=False),
        completed=completed,
        referral_id=f.text("referral_id", required=False),
    )
    return emit(EventType.PROGRAMME_PROGRESS, payload, occurred=on, classified=PROGRAMMES)


def _score(f: Fields, emit: EventBuilder, config: ActivityConfig, _: str) -> CaseEvent | None:
    on = f.date("occurred_on")
    instrument = f.choice("instrument", {i.value.lower(): i for i in ScoreInstrument})
    if instrument is None:
        return None
    low, high = SCORE_RANGES[instrument]
    score = f.integer("score", low=low, high=high)
    if on is None or score is None:
        return None
    payload = AssessmentScoreRecorded(
        instrument=instrument,
        score=score,
        measured_on=on,
        respondent=f.text("respondent", required=False),
        stage=f.choice("stage", {s.value.lower(): s for s in ScoreStage}, required=False),
        programme=f.text("programme", required=False),
    )
    return emit(EventType.ASSESSMENT_SCORE_RECORDED, payload, occurred=on, classified=SCORES)


def _listed(f: Fields, name: str) -> tuple[str, ...]:
    """A list field: values separated by ``;``, or a JSON array of strings.

    A webhook's ``data`` may give a list as a JSON array (the webhook route hands it on as its
    JSON text); a CSV cell as ``A;B``. Both mean the same list.
    """
    text = f.text(name, required=False) or ""
    if text.startswith("["):
        try:
            values = json.loads(text)
        except ValueError:
            values = None
        if not (isinstance(values, list) and all(isinstance(v, str) for v in values)):
            f.fail(name, f"{text!r} is not a JSON array of strings nor values separated by ';'")
            return ()
        return tuple(v.strip() for v in values if v.strip())
    return tuple(v.strip() for v in text.split(";") if v.strip())


def _required_list(f: Fields, name: str) -> tuple[str, ...]:
    reported = len(f.issues)
    values = _listed(f, name)
    if not values and len(f.issues) == reported:  # (an unreadable list was reported already)
        f.fail(name, "is required (a JSON array, or values separated by ';')")
    return values


def _chosen(
    f: Fields, name: str, allowed: Mapping[str, T], listed: tuple[str, ...] | None = None
) -> tuple[T, ...]:
    """The listed values as ``allowed`` maps them (case-insensitive); others are reported."""
    chosen = []
    for value in _listed(f, name) if listed is None else listed:
        if value.lower() in allowed:
            chosen.append(allowed[value.lower()])
        else:
            f.fail(name, f"{value!r} is not one of {', '.join(sorted(allowed))}")
    return tuple(chosen)


_CATEGORIES: Final = {c.value.lower(): c for c in DataCategory}
_PURPOSES: Final = {p.value.lower(): p for p in Purpose}


def _consent(f: Fields, emit: EventBuilder, config: ActivityConfig, rid: str) -> CaseEvent | None:
    on, recorded_by = f.date("occurred_on"), f.text("recorded_by")
    listed = {name: _required_list(f, name) for name in ("recipients", "categories", "purposes")}
    recipients = listed["recipients"]
    categories = _chosen(f, "categories", _CATEGORIES, listed["categories"])
    purposes = _chosen(f, "purposes", _PURPOSES, listed["purposes"])
    if on is None or recorded_by is None or not (recipients and categories and purposes):
        return None
    payload = ConsentRecorded(
        consent_id=f.text("consent_id", required=False) or rid,
        recipients=recipients,
        categories=categories,
        purposes=purposes,
        recorded_by=recorded_by,
    )
    return emit(EventType.CONSENT_RECORDED, payload, occurred=on, classified=CONSENT)


def _withdrawal(f: Fields, emit: EventBuilder, config: ActivityConfig, _: str) -> CaseEvent | None:
    on, recorded_by = f.date("occurred_on"), f.text("recorded_by")
    categories = _chosen(f, "categories", _CATEGORIES)
    if on is None or recorded_by is None:
        return None
    payload = ConsentWithdrawn(
        consent_id=f.text("consent_id", required=False),
        recipients=_listed(f, "recipients"),
        categories=categories,
        recorded_by=recorded_by,
    )
    return emit(EventType.CONSENT_WITHDRAWN, payload, occurred=on, classified=CONSENT)


def _received(f: Fields, emit: EventBuilder, config: ActivityConfig, rid: str) -> CaseEvent | None:
    on, programme = f.date("occurred_on"), _programme(f, config)
    due = f.date("expected_delivery_date", required=False)
    if on is None or programme is None:
        return None
    payload = ReferralReceived(
        referral_id=f.text("referral_id", required=False) or rid,
        service=programme,
        referral_source=f.text("referral_source", required=False),
        pathway=f.text("pathway", required=False),
        expected_delivery_date=due,
    )
    return emit(EventType.REFERRAL_RECEIVED, payload, occurred=on, classified=PROGRAMMES)


def _declined(f: Fields, emit: EventBuilder, config: ActivityConfig, rid: str) -> CaseEvent | None:
    on, programme = f.date("occurred_on"), _programme(f, config)
    if on is None or programme is None:
        return None
    payload = ProgrammeReferralDeclined(
        referral_id=f.text("referral_id", required=False) or rid,
        programme=programme,
        declined_on=on,
        declined_by=f.text("declined_by", required=False),
        reason=f.text("reason", required=False),
    )
    return emit(EventType.PROGRAMME_REFERRAL_DECLINED, payload, occurred=on, classified=PROGRAMMES)


def _pathway(f: Fields, emit: EventBuilder, config: ActivityConfig, _: str) -> CaseEvent | None:
    on, programme = f.date("occurred_on"), _programme(f, config)
    referral, pathway = f.text("referral_id"), f.text("pathway")
    if on is None or programme is None or referral is None or pathway is None:
        return None
    payload = ProgrammePathwayChanged(
        referral_id=referral,
        programme=programme,
        from_pathway=f.text("from_pathway", required=False),
        to_pathway=pathway,
        changed_on=on,
    )
    return emit(EventType.PROGRAMME_PATHWAY_CHANGED, payload, occurred=on, classified=PROGRAMMES)


def _activity(f: Fields, emit: EventBuilder, config: ActivityConfig, _: str) -> CaseEvent | None:
    on, programme = f.date("occurred_on"), _programme(f, config)
    referral, activity = f.text("referral_id"), f.choice("activity", ACTIVITIES)
    if on is None or programme is None or referral is None or activity is None:
        return None
    payload = ProgrammeActivityRecorded(
        referral_id=referral, programme=programme, activity=activity, occurred_on=on
    )
    return emit(EventType.PROGRAMME_ACTIVITY_RECORDED, payload, occurred=on, classified=PROGRAMMES)


def _exited(f: Fields, emit: EventBuilder, config: ActivityConfig, rid: str) -> CaseEvent | None:
    on, programme = f.date("occurred_on"), _programme(f, config)
    reason = f.choice("exit_reason", {r.value.lower(): r for r in ExitReason})
    if on is None or programme is None or reason is None:
        return None
    payload = ProgrammeExited(
        referral_id=f.text("referral_id", required=False) or rid,
        programme=programme,
        exited_on=on,
        reason=reason,
        detail=f.text("detail", required=False),
    )
    return emit(EventType.PROGRAMME_EXITED, payload, occurred=on, classified=PROGRAMMES)


def _circumstances(
    f: Fields, emit: EventBuilder, config: ActivityConfig, _: str
) -> CaseEvent | None:
    on = f.date("occurred_on")
    basis = f.choice("lawful_basis", {b.value.lower(): b for b in LawfulBasis})
    listed = _chosen(f, "characteristics", {c.value.lower(): c for c in Characteristic})
    ethnicity = f.choice("ethnicity", {e.value.lower(): e for e in EthnicCategory}, required=False)
    if on is None or basis is None:
        return None
    payload = CharacteristicsRecorded(
        referral_id=f.text("referral_id", required=False),
        recorded_on=on,
        member=f.text("member", required=False),
        characteristics=tuple(
            CharacteristicRecord(characteristic=c, lawful_basis=basis) for c in listed
        ),
        risk_factors=_listed(f, "risk_factors"),
        strengths=_listed(f, "strengths"),
        ethnicity=ethnicity,
        ethnicity_basis=basis if ethnicity is not None else None,
    )
    return emit(EventType.CHARACTERISTICS_RECORDED, payload, occurred=on, classified=CIRCUMSTANCES)


def _birth(f: Fields, emit: EventBuilder, config: ActivityConfig, _: str) -> CaseEvent | None:
    on = f.date("occurred_on")
    mother = []
    mother_nhs = f.text("mother_nhs_number", required=False)
    if mother_nhs is not None:
        if is_valid_nhs_number(mother_nhs):
            value = normalise_nhs_number(mother_nhs)
            mother.append(PersonIdentifier(system=NHS_NUMBER_SYSTEM, value=value))
        else:
            f.fail("mother_nhs_number", f"{mother_nhs!r} is not a valid NHS number")
    mother_id = f.text("mother_person_id", required=False)
    if mother_id is not None:
        mother.append(local_identifier(config, "person", mother_id))
    if mother_nhs is None and mother_id is None:
        f.fail("mother_nhs_number", "is required when there is no mother_person_id")
    if on is None or not mother:
        return None
    payload = BirthRegistered(mother=tuple(mother), birth_date=on)
    return emit(EventType.BIRTH_REGISTERED, payload, occurred=on, classified=BIRTHS)


_MAPPERS: Final[dict[str, Mapper]] = {
    "referral_received": _received,
    "referral_declined": _declined,
    "pathway_changed": _pathway,
    "programme_activity": _activity,
    "programme_exited": _exited,
    "characteristics_recorded": _circumstances,
    "birth_recorded": _birth,
    "referral_accepted": _referral,
    "key_worker_allocated": _allocation,
    "session_attended": _session(attended=True),
    "session_missed": _session(attended=False),
    "programme_progress": _progress,
    "assessment_score": _score,
    "consent_recorded": _consent,
    "consent_withdrawn": _withdrawal,
}
