"""A synthetic but realistic programme year, as the partners' systems would send it.

Pure and seeded: :func:`programme_year` returns the files a year of a Strengthening-Families-like
programme would produce, in the formats of the hub's real connectors, so loading them exercises
the whole intake (``hub outcomes synthetic`` writes them; ``hub connector run`` loads them):

* the charity's activity feed (``voluntary-activity``, organisation ``VCS-HOMESTART-SALFORD``):
  referrals, acceptances and declines, pathways and their changes, first contact, sessions,
  Family Group Conferences, dads' workers, exits, characteristics with their lawful basis, WEMWBS
  at entry and exit;
* the programme midwife's antenatal clinic list (``voluntary-activity``, organisation ``RM3``,
  service type ``antenatal``): the mothers' health appointments, attended or missed;
* the council's births feed (``voluntary-activity``, organisation ``355``): each baby's birth,
  with the mother's NHS number and the council's child id;
* the council's SSDA903 episodes (``ssda903-episodes``, organisation ``355``): babies' periods of
  care, ending home (E13), adopted (E11) or under special guardianship (E45).

No real person is in it: NHS numbers are generated (valid check digit, from the 999 test range).
The rates (:class:`YearRates`) are documented with where each comes from; those the seeds do not
give are stated as assumptions.
"""

from __future__ import annotations

import csv
import io
import random
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Final

PROGRAMME: Final = "Strengthening Families"
CHARITY: Final = "VCS-HOMESTART-SALFORD"
COUNCIL: Final = "355"
TRUST: Final = "RM3"
YEAR_START: Final = date(2024, 4, 1)  # financial year 2024-25: a year old by the 2026 report
ACTIVITY_COLUMNS: Final = (
    "record_id", "event", "occurred_on", "nhs_number", "programme", "referral_id", "pathway",
    "from_pathway", "expected_delivery_date", "referral_source", "declined_by", "activity",
    "sessions_attended", "sessions_planned", "exit_reason", "lawful_basis", "characteristics",
    "ethnicity", "member", "instrument", "score", "stage", "respondent", "session_id",
    "session_start", "mother_nhs_number", "child_id",
)  # fmt: skip
EPISODE_COLUMNS: Final = ("CHILD", "DECOM", "RNE", "LS", "DEC", "REC")


@dataclass(frozen=True)
class YearRates:
    """The year's rates. Sources: Salford's Strengthening Families handbook (pathways A post-
    removal, B pre-birth, C post-birth; the 7-session group course; parents care-experienced or
    with children previously removed, mental ill-health); Big Manchester ("over 30% from BME
    communities"; SDQ/WEMWBS at entry and exit); Baby and Me (infants entering care within 14
    days, the figure it was judged by). The numbers themselves are assumptions of this model
    unless a seed gives them."""

    families: int = 2000
    pathways: tuple[tuple[str, float], ...] = (("B", 0.55), ("C", 0.30), ("A", 0.15))
    accepted: float = 0.82
    first_contact: float = 0.92
    offered_sessions: float = 0.75
    sessions: int = 7
    attendance: float = 0.7
    fgc_offered: float = 0.4
    fgc_held: float = 0.6  # of those offered
    dads_worker: float = 0.35
    characteristics: tuple[tuple[str, float], ...] = (
        ("CARE_EXPERIENCED", 0.40),
        ("PREVIOUS_CHILD_REMOVED", 0.45),
        ("DOMESTIC_ABUSE", 0.50),
        ("MENTAL_ILL_HEALTH", 0.60),
        ("SUBSTANCE_MISUSE", 0.30),
        ("LEARNING_DISABILITY", 0.15),
        ("INSECURE_HOUSING", 0.25),
    )
    # NHS ethnic category codes; a third not White British ("over 30% from BME communities")
    ethnicity: tuple[tuple[str, float], ...] = (
        ("A", 0.62), ("C", 0.04), ("M", 0.05), ("N", 0.07), ("J", 0.06), ("K", 0.04),
        ("D", 0.04), ("G", 0.03), ("S", 0.02), ("Z", 0.03),
    )  # fmt: skip
    appointments: int = 6
    missed: float = 0.18
    entered_care_14_days: float = 0.10  # of programme babies
    returned_home: float = 0.35  # of those in care, within 6 months
    adopted: float = 0.40  # of those in care, by 11 months (the rest stay looked after)
    special_guardianship: float = 0.10
    exits: tuple[tuple[str, float], ...] = (
        ("completed", 0.60), ("disengaged", 0.15), ("moved_away", 0.05), ("", 0.20),
    )  # fmt: skip
    wemwbs_entry: tuple[float, float] = (40.0, 8.0)  # mean, sd
    wemwbs_change: tuple[float, float] = (6.0, 7.0)


@dataclass
class ProgrammeYear:
    """The files of the year: CSV text per feed."""

    activity: str
    clinic: str
    births: str
    episodes: str
    families: int
    counts: dict[str, int] = field(default_factory=dict)


def nhs_number(n: int) -> str:
    """The ``n``-th valid NHS number of the 999 test range (modulus 11; 10 is no check digit)."""
    candidate = 999_000_000 + n * 7
    while True:
        digits = [int(d) for d in f"{candidate:09d}"]
        check = 11 - sum(d * (10 - i) for i, d in enumerate(digits)) % 11
        if check != 10:
            return f"{candidate:09d}{0 if check == 11 else check}"
        candidate += 1


def programme_year(rates: YearRates = YearRates(), *, seed: int = 20) -> ProgrammeYear:
    """The year's files, the same for the same rates and seed."""
    rng = random.Random(seed)  # noqa: S311 - synthetic data, not secrets
    activity: list[dict[str, object]] = []
    births: list[dict[str, object]] = []
    clinic: list[dict[str, object]] = []
    episodes: list[dict[str, object]] = []
    counts = dict.fromkeys(("referrals", "accepted", "births", "in_care_14_days"), 0)
    for n in range(rates.families):
        mum = nhs_number(2 * n)
        referral = f"SF-{n:05d}"
        referred = YEAR_START + timedelta(days=rng.randrange(365))
        pathway = _pick(rng, rates.pathways)
        due = born = None
        if pathway == "B":
            due = referred + timedelta(weeks=40 - rng.uniform(8, 34))
            born = due + timedelta(days=rng.randint(-14, 10))
        elif pathway == "C":
            born = referred - timedelta(days=rng.randint(0, 140))

        def row(
            event: str,
            on: date,
            tag: str,
            referral: str = referral,
            mum: str = mum,
            **values: object,
        ) -> None:
            record = {"record_id": f"{referral}-{tag}", "event": event, "occurred_on": on}
            activity.append({**record, "nhs_number": mum, "programme": PROGRAMME, **values})

        counts["referrals"] += 1
        row("referral_received", referred, "R", referral_id=referral, pathway=pathway,
            expected_delivery_date=due or "", referral_source="midwifery")  # fmt: skip
        found = [c for c, p in rates.characteristics if rng.random() < p or
                 (c == "PREVIOUS_CHILD_REMOVED" and pathway == "A")]  # fmt: skip
        row("characteristics_recorded", referred, "CH", referral_id=referral,
            lawful_basis="PUBLIC_TASK", characteristics=";".join(found),
            ethnicity=_pick(rng, rates.ethnicity), member="MOTHER")  # fmt: skip
        if rng.random() >= rates.accepted:
            by = "FAMILY" if rng.random() < 0.6 else "PROGRAMME"
            row("referral_declined", referred + timedelta(days=rng.randint(2, 14)), "D",
                referral_id=referral, declined_by=by)  # fmt: skip
            continue
        counts["accepted"] += 1
        accepted = referred + timedelta(days=rng.randint(1, 14))
        row("referral_accepted", accepted, "A", referral_id=referral, pathway=pathway)
        if rng.random() < rates.first_contact:
            contact = referred + timedelta(days=rng.randint(1, 21))
            row("programme_activity", contact, "FC", referral_id=referral,
                activity="first_contact")  # fmt: skip
        if rng.random() < rates.fgc_offered:
            row("programme_activity", accepted + timedelta(days=20), "FGO",
                referral_id=referral, activity="fgc_offered")  # fmt: skip
            if rng.random() < rates.fgc_held:
                row("programme_activity", accepted + timedelta(days=45), "FGH",
                    referral_id=referral, activity="fgc_held")  # fmt: skip
        if rng.random() < rates.dads_worker:
            row("programme_activity", accepted + timedelta(days=30), "DW",
                referral_id=referral, activity="dads_worker")  # fmt: skip
        if rng.random() < rates.offered_sessions:
            went = sum(rng.random() < rates.attendance for _ in range(rates.sessions))
            row("programme_progress", accepted + timedelta(days=70), "P",
                referral_id=referral, sessions_attended=went,
                sessions_planned=rates.sessions)  # fmt: skip
        for k in range(rates.appointments):
            start = accepted + timedelta(days=7 + 21 * k)
            kind = "session_missed" if rng.random() < rates.missed else "session_attended"
            clinic.append({"record_id": f"{referral}-AP{k}", "event": kind, "occurred_on": start,
                           "nhs_number": mum, "session_id": f"{referral}-ANC{k}",
                           "session_start": f"{start.isoformat()}T10:00:00"})  # fmt: skip
        entry_mean, entry_sd = rates.wemwbs_entry
        entry = _clip(rng.gauss(entry_mean, entry_sd))
        row("assessment_score", accepted + timedelta(days=7), "S1", instrument="WEMWBS",
            score=entry, stage="entry", respondent="parent")  # fmt: skip
        reason = _pick(rng, rates.exits)
        if reason:
            exited = accepted + timedelta(days=rng.randint(120, 330))
            change_mean, change_sd = rates.wemwbs_change
            row("assessment_score", exited, "S2", instrument="WEMWBS",
                score=_clip(entry + rng.gauss(change_mean, change_sd)), stage="exit",
                respondent="parent")  # fmt: skip
            row("programme_exited", exited, "X", referral_id=referral, exit_reason=reason)
        if pathway == "B" and born is not None and born > referred:
            row("pathway_changed", born + timedelta(days=3), "PW", referral_id=referral,
                from_pathway="B", pathway="C")  # fmt: skip
        if born is None:
            continue
        counts["births"] += 1
        child = f"C{n:05d}"
        births.append({"record_id": f"BR-{n:05d}", "event": "birth_recorded",
                       "occurred_on": born, "nhs_number": nhs_number(2 * n + 1),
                       "mother_nhs_number": mum, "child_id": child})  # fmt: skip
        if rng.random() < rates.entered_care_14_days:
            counts["in_care_14_days"] += 1
            start = born + timedelta(days=rng.randint(0, 13))
            end: date | str = ""
            rec = ""
            draw = rng.random()
            if draw < rates.returned_home:
                end, rec = start + timedelta(days=rng.randint(30, 170)), "E13"
            elif draw < rates.returned_home + rates.adopted:
                end, rec = born + timedelta(days=rng.randint(300, 335)), "E11"
            elif draw < rates.returned_home + rates.adopted + rates.special_guardianship:
                end, rec = born + timedelta(days=rng.randint(200, 300)), "E45"
            episodes.append({"CHILD": child, "DECOM": start, "RNE": "S", "LS": "C2",
                             "DEC": end, "REC": rec})  # fmt: skip
    return ProgrammeYear(
        activity=_csv(ACTIVITY_COLUMNS, activity),
        clinic=_csv(ACTIVITY_COLUMNS, clinic),
        births=_csv(ACTIVITY_COLUMNS, births),
        episodes=_csv(EPISODE_COLUMNS, episodes),
        families=rates.families,
        counts=counts,
    )


def _pick(rng: random.Random, weights: tuple[tuple[str, float], ...]) -> str:
    values, chances = zip(*weights, strict=True)
    return str(rng.choices(values, chances)[0])


def _clip(score: float) -> int:
    return max(14, min(70, round(score)))


def _csv(columns: tuple[str, ...], rows: list[dict[str, object]]) -> str:
    out = io.StringIO()
    writer = csv.DictWriter(out, columns, restval="", lineterminator="\n")
    writer.writeheader()
    for values in rows:
        writer.writerow({k: v.strftime("%Y-%m-%d") if isinstance(v, date) else v
                         for k, v in values.items()})  # fmt: skip
    return out.getvalue()
