"""An evaluator's record-level extract, pseudonymised per evaluation (issue 20, ADR 0031).

Pure: the outcomes records and an evaluation's key in, rows out. One row per episode of the
programme, about the parent referred and, where there is one, her baby:

* **Keyed pseudonyms.** Every person (and episode) is named by HMAC-SHA256 of the evaluation's
  name and the hub's key for them, under the evaluation's own secret key: the same person has
  the same pseudonym throughout one evaluation, two evaluations' pseudonyms cannot be linked
  without both keys, and destroying the key ends the link for good.
* **No direct identifiers.** No NHS number, local id, referral id, name, address or
  organisation-local code is written; :data:`COLUMNS` is every column there is.
* **Generalised.** Dates are months (``YYYY-MM``), intervals whole days or weeks, ethnicity the
  five ONS groups.

:func:`data_dictionary` describes each column, with the contract field it comes from and that
field's documentation in the Avro schema (so the dictionary is generated from the contract).
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any, Final

from hub.outcomes.babies import AGES, babies_of, place_on
from hub.outcomes.figures import score_pair
from hub.outcomes.fold import Episode, PersonOutcomes, merge_people
from hub.vocabulary import ScoreInstrument, ethnic_group


@dataclass(frozen=True)
class Column:
    name: str
    meaning: str
    record: str  # the contract's record the value comes from
    field: str  # and its field


COLUMNS: Final = (
    Column(
        "person", "the parent's pseudonym in this evaluation (HMAC-SHA256)", "CaseEvent", "subject"
    ),
    Column(
        "episode", "the episode's pseudonym in this evaluation", "ReferralReceived", "referral_id"
    ),
    Column("pathway_at_referral", "pathway referred to", "ReferralReceived", "pathway"),
    Column(
        "pathway_latest", "pathway now, after any change", "ProgrammePathwayChanged", "to_pathway"
    ),
    Column("referred_month", "month of referral (YYYY-MM)", "CaseEvent", "occurred_at"),
    Column(
        "accepted_month", "month accepted, empty if not", "ProgrammeReferralAccepted", "accepted_on"
    ),
    Column(
        "declined", "yes if the referral was declined", "ProgrammeReferralDeclined", "declined_on"
    ),
    Column(
        "gestation_weeks_at_referral",
        "whole weeks of pregnancy at referral",
        "ReferralReceived",
        "expected_delivery_date",
    ),
    Column(
        "days_to_first_contact",
        "days from referral to first contact",
        "ProgrammeActivityRecorded",
        "occurred_on",
    ),
    Column(
        "sessions_attended", "group sessions attended", "ProgrammeProgress", "sessions_attended"
    ),
    Column("sessions_offered", "group sessions offered", "ProgrammeProgress", "sessions_planned"),
    Column(
        "fgc_held",
        "yes if a Family Group Conference was held",
        "ProgrammeActivityRecorded",
        "activity",
    ),
    Column(
        "dads_worker", "yes if a dad's worker was involved", "ProgrammeActivityRecorded", "activity"
    ),
    Column("exit_month", "month of exit, empty if open", "ProgrammeExited", "exited_on"),
    Column("exit_reason", "why the family left", "ProgrammeExited", "reason"),
    Column("ethnic_group", "ONS five groups", "CharacteristicsRecorded", "ethnicity"),
    Column(
        "characteristics",
        "circumstances at referral, ';'-separated",
        "CharacteristicsRecorded",
        "characteristics",
    ),
    Column("wemwbs_entry", "WEMWBS at entry", "AssessmentScoreRecorded", "score"),
    Column("wemwbs_exit", "WEMWBS at exit", "AssessmentScoreRecorded", "score"),
    Column("sdq_entry", "SDQ at entry", "AssessmentScoreRecorded", "score"),
    Column("sdq_exit", "SDQ at exit", "AssessmentScoreRecorded", "score"),
    Column(
        "appointments_attended",
        "health appointments attended during the episode",
        "AppointmentAttended",
        "appointment",
    ),
    Column(
        "appointments_missed",
        "health appointments missed during the episode",
        "AppointmentMissed",
        "appointment",
    ),
    Column(
        "baby",
        "the baby's pseudonym in this evaluation, empty if none",
        "BirthRegistered",
        "mother",
    ),
    Column("baby_birth_month", "the baby's month of birth", "BirthRegistered", "birth_date"),
    Column("baby_at_14_days", "where the baby was at 14 days", "PlanStarted", "plan_type"),
    Column("baby_at_6_months", "where the baby was at 6 months", "PlanStarted", "plan_type"),
    Column("baby_at_12_months", "where the baby was at 12 months", "PermanenceRecorded", "outcome"),
)


def pseudonym(key: bytes, evaluation: str, identifier: str) -> str:
    """The identifier's pseudonym in ``evaluation`` (24 hex digits of HMAC-SHA256)."""
    message = f"{evaluation}\x1f{identifier}".encode()
    return hmac.new(key, message, hashlib.sha256).hexdigest()[:24]


def episode_identifier(person: PersonOutcomes, episode: Episode) -> str:
    """What an episode's pseudonym is made from: its person and its referral (two systems may
    both number a referral ``R1``)."""
    return f"episode\x1f{person.subject_key}\x1f{episode.referral_id}"


def _month(day: date | None) -> str:
    return day.strftime("%Y-%m") if day else ""


def _yes(flag: bool) -> str:
    return "yes" if flag else ""


def extract_rows(
    records: Sequence[PersonOutcomes],
    programme: str,
    *,
    key: bytes,
    evaluation: str,
    as_of: date,
) -> list[dict[str, str]]:
    """One row per episode of ``programme`` (the module's docstring says what a row holds)."""
    if len(key) < 32:
        raise ValueError("an evaluation key is at least 32 bytes")
    people = merge_people(records)
    by_episode: dict[tuple[str, str], list[PersonOutcomes]] = {}
    for baby, case in babies_of(people, programme):
        by_episode.setdefault((case.person.subject_key, case.episode.referral_id), []).append(baby)
    rows = []
    for person in people:
        for episode in person.episodes.values():
            if episode.programme != programme:
                continue
            found = by_episode.get((person.subject_key, episode.referral_id), [])
            rows.append(_row(person, episode, found[0] if found else None, key, evaluation, as_of))
    rows.sort(key=lambda r: (r["referred_month"], r["episode"]))
    return rows


def _row(
    person: PersonOutcomes,
    episode: Episode,
    baby: PersonOutcomes | None,
    key: bytes,
    evaluation: str,
    as_of: date,
) -> dict[str, str]:
    start = episode.accepted_on or episode.started_on or date.min
    end = episode.exited_on or as_of
    health = [a for a in person.appointments.values() if a.health and start <= a.on <= end]
    scores: dict[str, str] = {}
    for instrument in (ScoreInstrument.WEMWBS, ScoreInstrument.SDQ):
        pair = score_pair(
            s
            for s in person.scores.values()
            if s.instrument is instrument and s.programme in (None, episode.programme)
        )
        name = instrument.value.lower()
        scores[f"{name}_entry"] = str(pair[0].score) if pair else ""
        scores[f"{name}_exit"] = str(pair[1].score) if pair else ""
    edd = episode.expected_delivery_date or person.expected_delivery_date
    gestation = ""
    if edd and episode.referred_on and episode.referred_on <= edd:
        gestation = str(int(40 - (edd - episode.referred_on).days / 7))
    waited = ""
    if episode.first_contact_on and episode.referred_on:
        waited = str((episode.first_contact_on - episode.referred_on).days)
    places = {label: "" for label, _ in AGES}
    if baby is not None and baby.birth_date is not None:
        for label, days in AGES:
            day = baby.birth_date + timedelta(days=days)
            places[label] = place_on(baby, day) if day <= as_of else ""
    return {
        "person": pseudonym(key, evaluation, person.subject_key),
        "episode": pseudonym(key, evaluation, episode_identifier(person, episode)),
        "pathway_at_referral": episode.pathway_at_referral or "",
        "pathway_latest": episode.pathway or "",
        "referred_month": _month(episode.referred_on or episode.started_on),
        "accepted_month": _month(episode.accepted_on),
        "declined": _yes(episode.declined_on is not None),
        "gestation_weeks_at_referral": gestation,
        "days_to_first_contact": waited,
        "sessions_attended": ""
        if episode.sessions_attended is None
        else str(episode.sessions_attended),
        "sessions_offered": ""
        if episode.sessions_offered is None
        else str(episode.sessions_offered),
        "fgc_held": _yes(episode.fgc_held),
        "dads_worker": _yes(episode.dads_worker),
        "exit_month": _month(episode.exited_on),
        "exit_reason": episode.exit_reason.value if episode.exit_reason else "",
        "ethnic_group": ethnic_group(person.characteristics.ethnicity),
        "characteristics": ";".join(c.value for c in person.characteristics.characteristics),
        **scores,
        "appointments_attended": str(sum(a.attended for a in health)),
        "appointments_missed": str(sum(not a.attended for a in health)),
        "baby": pseudonym(key, evaluation, baby.subject_key) if baby else "",
        "baby_birth_month": _month(baby.birth_date) if baby else "",
        "baby_at_14_days": places["14 days"],
        "baby_at_6_months": places["6 months"],
        "baby_at_12_months": places["12 months"],
    }


def data_dictionary(schema: Mapping[str, Any]) -> list[dict[str, str]]:
    """Each column: its meaning, and the contract field it comes from with that field's doc in
    ``schema`` (the case-event Avro schema)."""
    docs: dict[tuple[str, str], str] = {}

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            if node.get("type") == "record":
                for field in node["fields"]:
                    docs[(node["name"], field["name"])] = field.get("doc", node.get("doc", ""))
                    walk(field["type"])
            elif node.get("type") == "array":
                walk(node["items"])
        elif isinstance(node, list):
            for branch in node:
                walk(branch)

    walk(schema)
    return [
        {
            "column": c.name,
            "meaning": c.meaning,
            "from": f"{c.record}.{c.field}",
            "contract": docs.get((c.record, c.field), ""),
        }
        for c in COLUMNS
    ]
