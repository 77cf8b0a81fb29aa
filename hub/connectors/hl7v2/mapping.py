"""HL7 v2 ADT and SIU messages -> case-events, as a pure translation.

:func:`message_events` answers the events a message stands for, or raises :class:`Hl7RecordError`:
``AR`` (a message type, version or sender the hub does not take) or ``AE`` (content errors:
each :class:`Hl7Problem` names segment, field and HL7 error code). The connector
(:mod:`hub.connectors.hl7v2.connector`) is this behind the SDK's message shape; the listener
turns its outcome into the acknowledgement. This module does no I/O.

The practitioners a message names to the team (ROL, and the PV1 / AIP fields the source
configures: :mod:`hub.connectors.hl7v2.roles`) come first, as ``PRACTITIONER_ASSIGNED`` /
``PRACTITIONER_UNASSIGNED`` events, so a no-show that names its midwife is addressed to her.

Event ids are UUIDv5 of sending facility and MSH-10 (and the event's place in the message), so
a re-sent message yields the same ids and no second alert.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime
from typing import Final, Literal

import hl7

from hub.connectors.hl7v2.reading import Hl7Problem, first_segment, repetitions, timestamp, value
from hub.connectors.hl7v2.roles import Named, named_practitioners
from hub.connectors.sdk import RecordError
from hub.connectors.sources import SourceConfig, SourceRegistry
from hub.events import CaseEvent, EventType, deterministic_event_id
from hub.nhs_number import is_valid_nhs_number, normalise_nhs_number
from hub.payloads import (
    NHS_NUMBER_SYSTEM,
    Appointment,
    AppointmentBooked,
    AppointmentCancelled,
    AppointmentMissed,
    AppointmentModified,
    AppointmentRescheduled,
    Payload,
    PersonIdentifier,
    PersonMerged,
    PersonRegistered,
    PractitionerAssigned,
    Source,
)
from hub.vocabulary import DataCategory, Sensitivity

SUPPORTED_VERSIONS: Final = frozenset({"2.3", "2.3.1", "2.4", "2.5", "2.5.1"})

TRIGGERS: Final[dict[tuple[str, str], EventType]] = {
    ("ADT", "A01"): EventType.PERSON_REGISTERED,
    ("ADT", "A04"): EventType.PERSON_REGISTERED,
    ("ADT", "A08"): EventType.PERSON_REGISTERED,
    ("ADT", "A28"): EventType.PERSON_REGISTERED,
    ("ADT", "A31"): EventType.PERSON_REGISTERED,
    ("ADT", "A39"): EventType.PERSON_MERGED,  # merge person (v2.3.1), as ABUHB sends
    ("ADT", "A40"): EventType.PERSON_MERGED,
    ("SIU", "S12"): EventType.APPOINTMENT_BOOKED,
    ("SIU", "S13"): EventType.APPOINTMENT_RESCHEDULED,
    ("SIU", "S14"): EventType.APPOINTMENT_MODIFIED,
    ("SIU", "S15"): EventType.APPOINTMENT_CANCELLED,
    ("SIU", "S17"): EventType.APPOINTMENT_CANCELLED,
    ("SIU", "S26"): EventType.APPOINTMENT_MISSED,
}

REQUIRED_FIELD_MISSING: Final = 101
DATA_TYPE_ERROR: Final = 102
TABLE_VALUE_NOT_FOUND: Final = 103
SEGMENT_SEQUENCE_ERROR: Final = 100
UNSUPPORTED_MESSAGE_TYPE: Final = 200
UNSUPPORTED_EVENT_CODE: Final = 201
UNSUPPORTED_VERSION: Final = 203
UNKNOWN_KEY_IDENTIFIER: Final = 204
APPLICATION_INTERNAL_ERROR: Final = 207


class Hl7RecordError(RecordError):
    """A message the hub does not take, as its acknowledgement reports it.

    ``code`` is MSA-1: ``AR`` for a message the hub does not take at all (type, version,
    sender; bytes that are not HL7 v2) and ``AE`` for content errors. Each problem names its
    segment, field and component and carries its HL7 table 0357 code for ERR-3; the issues every
    connector's refusal has are the problems' locations and messages.
    """

    def __init__(
        self,
        code: Literal["AE", "AR"],
        problems: Sequence[Hl7Problem],
        *,
        unreadable: bool = False,
    ) -> None:
        self.code: Literal["AE", "AR"] = code
        self.problems = tuple(problems)
        super().__init__([(p.location, p.message) for p in self.problems], unreadable=unreadable)


def _reject(segment: str, field: int, message: str, code: int) -> Hl7RecordError:
    return Hl7RecordError("AR", (Hl7Problem(segment, field, message, code),))


def message_events(
    message: hl7.Message, sources: SourceRegistry, recorded_at: datetime
) -> tuple[CaseEvent, ...]:
    """What this message means to the hub: its team changes, then its own event; raises
    :class:`Hl7RecordError`."""
    msh = message.segment("MSH")
    kind, trigger = value(msh, 9, 1, 1).upper(), value(msh, 9, 1, 2).upper()
    version = value(msh, 12, 1, 1)
    if version not in SUPPORTED_VERSIONS:
        taken = ", ".join(sorted(SUPPORTED_VERSIONS))
        raise _reject(
            "MSH",
            12,
            f"version {version!r} is not taken (the hub takes {taken})",
            UNSUPPORTED_VERSION,
        )
    event_type = TRIGGERS.get((kind, trigger))
    if event_type is None:
        known_kind = any(k == kind for k, _ in TRIGGERS)
        code = UNSUPPORTED_EVENT_CODE if known_kind else UNSUPPORTED_MESSAGE_TYPE
        raise _reject("MSH", 9, f"message type {kind}^{trigger} is not taken", code)
    facility = value(msh, 4, 1, 1)
    source = sources.for_facility(facility)
    if source is None:
        raise _reject(
            "MSH",
            4,
            f"sending facility {facility!r} is not configured "
            "(add it to a file in config/sources/)",
            UNKNOWN_KEY_IDENTIFIER,
        )
    problems: list[Hl7Problem] = []
    control_id = value(msh, 10)
    if not control_id:
        problems.append(
            Hl7Problem("MSH", 10, "message control id is empty", REQUIRED_FIELD_MISSING)
        )
    sent_at = _time(msh, "MSH", 7, source, problems, required=True)
    pid = first_segment(message, "PID")
    if pid is None:
        problems.append(Hl7Problem("PID", 0, "no PID segment", SEGMENT_SEQUENCE_ERROR))
        raise Hl7RecordError("AE", problems)
    subject = _subject(pid, source, problems)
    if kind == "ADT":
        payload: Payload | None = _adt_payload(message, pid, event_type, source, problems)
        category = DataCategory.DEMOGRAPHICS
        occurred_at = _event_time(message, source, problems) or sent_at
        organisation = source.organisation_code
    else:
        appointment, organisation = _appointment(message, source, problems)
        reason = "deleted" if trigger == "S17" else _cancel_reason(message)
        payload = _siu_payload(event_type, appointment, reason) if appointment else None
        category = DataCategory.APPOINTMENTS
        missed = event_type is EventType.APPOINTMENT_MISSED and appointment is not None
        occurred_at = appointment.start if missed and appointment else sent_at
    named = named_practitioners(list(message), source, problems)
    if problems or payload is None or occurred_at is None or not subject or sent_at is None:
        raise Hl7RecordError("AE", problems)
    record_id = _record_id(payload, control_id)
    team = tuple(
        _team_event(
            n,
            (facility, control_id, record_id),
            subject,
            Source(system=source.system, organisation_code=organisation),
            occurred_at=occurred_at if kind == "ADT" else sent_at,
            recorded_at=recorded_at,
        )
        for n in named
    )
    event = CaseEvent(
        event_id=deterministic_event_id("hl7v2", facility, control_id, "0"),
        event_type=event_type,
        occurred_at=occurred_at,
        recorded_at=recorded_at,
        source=Source(system=source.system, organisation_code=organisation),
        source_record_id=record_id,
        subject=tuple(subject),
        data_category=category,
        sensitivity=Sensitivity.ROUTINE,
        payload=payload,
    )
    return (*team, event)


def _team_event(
    named: Named,
    message_ids: tuple[str, str, str],
    subject: list[PersonIdentifier],
    source: Source,
    *,
    occurred_at: datetime,
    recorded_at: datetime,
) -> CaseEvent:
    """One team change: timed by the ADT's event time or an SIU's sending time (MSH-7)."""
    facility, control_id, record_id = message_ids
    assigning = isinstance(named.change, PractitionerAssigned)
    return CaseEvent(
        event_id=deterministic_event_id("hl7v2", facility, control_id, named.key),
        event_type=(
            EventType.PRACTITIONER_ASSIGNED if assigning else EventType.PRACTITIONER_UNASSIGNED
        ),
        occurred_at=occurred_at,
        recorded_at=recorded_at,
        source=source,
        source_record_id=f"{record_id}|{named.key}",
        subject=tuple(subject),
        data_category=DataCategory.PRACTITIONER_ALLOCATION,
        sensitivity=Sensitivity.ROUTINE,
        payload=named.change,
    )


def _record_id(payload: Payload, control_id: str) -> str:
    appointment = getattr(payload, "appointment", None)
    return appointment.appointment_id if isinstance(appointment, Appointment) else control_id


def _time(
    segment: hl7.Segment,
    name: str,
    field: int,
    source: SourceConfig,
    problems: list[Hl7Problem],
    *,
    required: bool,
    component: int = 1,
) -> datetime | None:
    text = value(segment, field, 1, component)
    if not text:
        if required:
            problems.append(
                Hl7Problem(
                    name,
                    field,
                    "timestamp is missing",
                    REQUIRED_FIELD_MISSING,
                    component if component > 1 else None,
                )
            )
        return None
    try:
        return timestamp(text, source.zone())
    except ValueError:
        problems.append(
            Hl7Problem(
                name,
                field,
                f"{text!r} is not an HL7 timestamp",
                DATA_TYPE_ERROR,
                component if component > 1 else None,
            )
        )
        return None


def _event_time(
    message: hl7.Message, source: SourceConfig, problems: list[Hl7Problem]
) -> datetime | None:
    evn = first_segment(message, "EVN")
    if evn is None:
        return None
    return _time(evn, "EVN", 2, source, problems, required=False)


def _cx_system(source: SourceConfig, authority: str, kind: str) -> str:
    """A local id's system: the one the source configures for its assigning authority (or
    type) — the same URI its FHIR identifiers use — else one qualified by the source."""
    configured = source.identifier_systems.get(authority) or source.identifier_systems.get(kind)
    return configured or f"urn:hub:id:{source.system}:{authority or kind or 'local'}"


def _is_nhs(authority: str, kind: str) -> bool:
    return authority.upper() == "NHS" or kind.upper() == "NH"


def _identifiers(
    segment: hl7.Segment, field: int, source: SourceConfig, name: str, problems: list[Hl7Problem]
) -> list[PersonIdentifier]:
    """CX repetitions: the NHS number (checked) first, then local ids qualified by authority."""
    nhs: list[PersonIdentifier] = []
    local: list[PersonIdentifier] = []
    for repetition in range(1, repetitions(segment, field) + 1):
        number = value(segment, field, repetition, 1)
        authority = value(segment, field, repetition, 4)
        kind = value(segment, field, repetition, 5)
        if not number:
            continue
        if _is_nhs(authority, kind):
            cleaned = normalise_nhs_number(number)
            if not is_valid_nhs_number(cleaned):
                problems.append(
                    Hl7Problem(
                        name,
                        field,
                        f"{number!r} is not a valid NHS number (modulus 11)",
                        DATA_TYPE_ERROR,
                    )
                )
                continue
            nhs.append(PersonIdentifier(system=NHS_NUMBER_SYSTEM, value=cleaned))
        else:
            local.append(PersonIdentifier(system=_cx_system(source, authority, kind), value=number))
    return nhs + local


def _subject(
    pid: hl7.Segment, source: SourceConfig, problems: list[Hl7Problem]
) -> list[PersonIdentifier]:
    before = len(problems)
    identifiers = _identifiers(pid, 3, source, "PID", problems)
    # A configured identifier (a health board's PAS number) names the person on its own: a
    # newborn is registered before the NHS number arrives and linked when it does (ADR 0008).
    known = {NHS_NUMBER_SYSTEM, *source.identifier_systems.values()}
    if not any(i.system in known for i in identifiers) and len(problems) == before:
        problems.append(
            Hl7Problem(
                "PID",
                3,
                "no NHS number: no PID-3 repetition has assigning "
                "authority NHS or identifier type NH"
                + (" or a configured identifier system" if source.identifier_systems else ""),
                REQUIRED_FIELD_MISSING,
            )
        )
    return identifiers


def _adt_payload(
    message: hl7.Message,
    pid: hl7.Segment,
    event_type: EventType,
    source: SourceConfig,
    problems: list[Hl7Problem],
) -> Payload | None:
    if event_type is EventType.PERSON_MERGED:
        mrg = first_segment(message, "MRG")
        if mrg is None:
            trigger = value(message.segment("MSH"), 9, 1, 2).upper()
            problems.append(
                Hl7Problem("MRG", 0, f"ADT^{trigger} needs an MRG segment", SEGMENT_SEQUENCE_ERROR)
            )
            return None
        merged = _identifiers(mrg, 1, source, "MRG", problems)
        if not merged:
            problems.append(
                Hl7Problem("MRG", 1, "no identifier of the merged record", REQUIRED_FIELD_MISSING)
            )
            return None
        return PersonMerged(merged=tuple(merged))
    return PersonRegistered(
        given_name=value(pid, 5, 1, 2) or None,
        family_name=value(pid, 5, 1, 1) or None,
        birth_date=_birth_date(pid, problems),
        postcode=value(pid, 11, 1, 5) or None,
        language=_language(pid, source),
    )


def _language(pid: hl7.Segment, source: SourceConfig) -> str | None:
    """PID-15 primary language (CE.1), through the source's ``[languages]`` codes; a code it
    does not map is kept as sent rather than lost."""
    code = value(pid, 15, 1, 1)
    return source.languages.get(code.upper(), code) if code else None


def _birth_date(pid: hl7.Segment, problems: list[Hl7Problem]) -> date | None:
    text = value(pid, 7)
    if not text:
        return None
    try:
        return date(int(text[0:4]), int(text[4:6]), int(text[6:8]))
    except (ValueError, IndexError):
        problems.append(Hl7Problem("PID", 7, f"{text!r} is not a date (YYYYMMDD)", DATA_TYPE_ERROR))
        return None


# Where SIU messages carry the start time: SCH-11.4 (TQ, up to v2.5) or the resource segments.
_START_FIELDS: Final = (("AIS", 4), ("AIG", 8), ("AIL", 6), ("AIP", 6))


def _appointment(
    message: hl7.Message, source: SourceConfig, problems: list[Hl7Problem]
) -> tuple[Appointment | None, str]:
    organisation = source.organisation_code
    sch = first_segment(message, "SCH")
    if sch is None:
        problems.append(Hl7Problem("SCH", 0, "no SCH segment", SEGMENT_SEQUENCE_ERROR))
        return None, organisation
    appointment_id = value(sch, 2, 1, 1) or value(sch, 1, 1, 1)
    if not appointment_id:
        problems.append(
            Hl7Problem(
                "SCH", 2, "no appointment id (SCH-2 filler or SCH-1 placer)", REQUIRED_FIELD_MISSING
            )
        )
    start = _time(sch, "SCH", 11, source, problems, required=False, component=4)
    for name, field in _START_FIELDS:
        if start is not None:
            break
        segment = first_segment(message, name)
        if segment is not None:
            start = _time(segment, name, field, source, problems, required=False)
    if start is None and not any(p.field in (11, 4, 6, 8) for p in problems):
        problems.append(
            Hl7Problem(
                "SCH",
                11,
                "no start time (SCH-11.4, AIS-4, AIG-8, AIL-6 or AIP-6)",
                REQUIRED_FIELD_MISSING,
                4,
            )
        )
    end = _time(sch, "SCH", 11, source, problems, required=False, component=5)
    ail = first_segment(message, "AIL")
    clinic = value(ail, 3, 1, 1) if ail is not None else ""
    if clinic and source.unknown_clinics == "refuse" and clinic not in source.clinics:
        # Refused rather than attributed to the source's owner: the engineer adds the clinic to
        # the source's [clinics] and replays the message from the error queue (ADR 0030).
        problems.append(
            Hl7Problem(
                "AIL",
                3,
                f"unknown clinic code {clinic!r}: not in [clinics] of source {source.system}",
                TABLE_VALUE_NOT_FOUND,
                1,
            )
        )
    organisation = source.clinics.get(clinic, organisation)
    type_code, type_text, reason = value(sch, 8, 1, 1), value(sch, 8, 1, 2), value(sch, 7, 1, 1)
    service_type = next(
        (
            source.appointment_types[k]
            for k in (type_code, type_text, reason)
            if k and k in source.appointment_types
        ),
        None,
    )
    practitioners = tuple(
        identifier
        for segment in _segments(message, "AIP")
        for identifier in [value(segment, 3, 1, 1)]
        if identifier
    )
    if appointment_id is None or start is None or problems:
        return None, organisation
    location = ", ".join(part for part in (clinic, value(ail, 3, 1, 4) if ail else "") if part)
    return (
        Appointment(
            appointment_id=appointment_id,
            start=start,
            end=end,
            service_type=service_type,
            description=value(sch, 7, 1, 2) or type_text or reason or None,
            location=location or None,
            practitioner_ids=practitioners,
        ),
        organisation,
    )


def _segments(message: hl7.Message, name: str) -> list[hl7.Segment]:
    try:
        found: list[hl7.Segment] = list(message.segments(name))
    except (KeyError, IndexError):
        return []
    return found


def _cancel_reason(message: hl7.Message) -> str | None:
    sch = first_segment(message, "SCH")
    if sch is None:
        return None
    return value(sch, 6, 1, 2) or value(sch, 6, 1, 1) or None


def _siu_payload(event_type: EventType, appointment: Appointment, reason: str | None) -> Payload:
    if event_type is EventType.APPOINTMENT_BOOKED:
        return AppointmentBooked(appointment=appointment)
    if event_type is EventType.APPOINTMENT_RESCHEDULED:
        return AppointmentRescheduled(appointment=appointment)
    if event_type is EventType.APPOINTMENT_MODIFIED:
        return AppointmentModified(appointment=appointment)
    if event_type is EventType.APPOINTMENT_MISSED:
        return AppointmentMissed(appointment=appointment)
    return AppointmentCancelled(appointment=appointment, reason=reason)
