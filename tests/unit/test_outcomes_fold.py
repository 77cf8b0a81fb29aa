"""The outcomes fold and the figures counted from it, called directly (no store, no broker)."""

from __future__ import annotations

from datetime import UTC, date, datetime, time
from functools import reduce

import pytest

from hub.events import CaseEvent, EventType
from hub.outcomes.babies import AWAY, HOME, LOOKED_AFTER, PLAN, place_on
from hub.outcomes.figures import figures
from hub.outcomes.fold import PersonOutcomes, empty_record, fold
from hub.outcomes.tables import CountTable, financial_quarter
from hub.payloads import (
    NHS_NUMBER_SYSTEM,
    Appointment,
    AppointmentAttended,
    AppointmentMissed,
    AssessmentScoreRecorded,
    BirthRegistered,
    CharacteristicRecord,
    CharacteristicsRecorded,
    Payload,
    PermanenceRecorded,
    PersonIdentifier,
    PlanEnded,
    PlanStarted,
    ProgrammeActivityRecorded,
    ProgrammeExited,
    ProgrammePathwayChanged,
    ProgrammeProgress,
    ProgrammeReferralAccepted,
    ProgrammeReferralDeclined,
    ReferralReceived,
    Source,
)
from hub.vocabulary import (
    Characteristic,
    EthnicCategory,
    ExitReason,
    LawfulBasis,
    PermanenceOutcome,
    PlanType,
    ProgrammeActivity,
    ScoreInstrument,
    ScoreStage,
)
from tests.builders import event

MUM, BABY = "9434765919", "9434765870"
SF = "Strengthening Families"
LA = Source(system="salford-lcs", organisation_code="355")


def on(
    day: date, event_type: EventType, payload: Payload, record_id: str, who: str = MUM
) -> CaseEvent:
    return event(
        event_type,
        payload,
        record_id=record_id,
        nhs_number=who,
        at=datetime.combine(day, time(10), UTC),
        source=LA,
    )


def folded(events: list[CaseEvent], key: str = MUM) -> PersonOutcomes:
    return reduce(fold, events, empty_record(key))


def mother_year() -> list[CaseEvent]:
    """Referred in pregnancy (16 weeks), accepted on pathway B, moved to C at the birth."""
    return [
        on(
            date(2026, 4, 1),
            EventType.REFERRAL_RECEIVED,
            ReferralReceived(
                referral_id="R1", service=SF, pathway="B", expected_delivery_date=date(2026, 9, 16)
            ),
            "r1",
        ),
        on(
            date(2026, 4, 8),
            EventType.PROGRAMME_REFERRAL_ACCEPTED,
            ProgrammeReferralAccepted(referral_id="R1", programme=SF, accepted_on=date(2026, 4, 8)),
            "a1",
        ),
        on(
            date(2026, 4, 6),
            EventType.PROGRAMME_ACTIVITY_RECORDED,
            ProgrammeActivityRecorded(
                referral_id="R1",
                programme=SF,
                activity=ProgrammeActivity.FIRST_CONTACT,
                occurred_on=date(2026, 4, 6),
            ),
            "f1",
        ),
        on(
            date(2026, 5, 1),
            EventType.CHARACTERISTICS_RECORDED,
            CharacteristicsRecorded(
                referral_id="R1",
                recorded_on=date(2026, 5, 1),
                characteristics=(
                    CharacteristicRecord(
                        characteristic=Characteristic.CARE_EXPERIENCED,
                        lawful_basis=LawfulBasis.PUBLIC_TASK,
                    ),
                ),
                ethnicity=EthnicCategory.BLACK_CARIBBEAN,
                ethnicity_basis=LawfulBasis.PUBLIC_TASK,
            ),
            "c1",
        ),
        on(
            date(2026, 6, 1),
            EventType.PROGRAMME_PROGRESS,
            ProgrammeProgress(programme=SF, sessions_attended=5, sessions_planned=7),
            "p1",
        ),
        on(
            date(2026, 5, 1),
            EventType.ASSESSMENT_SCORE_RECORDED,
            AssessmentScoreRecorded(
                instrument=ScoreInstrument.WEMWBS,
                score=38,
                measured_on=date(2026, 5, 1),
                stage=ScoreStage.ENTRY,
            ),
            "s1",
        ),
        on(
            date(2027, 1, 10),
            EventType.ASSESSMENT_SCORE_RECORDED,
            AssessmentScoreRecorded(
                instrument=ScoreInstrument.WEMWBS,
                score=47,
                measured_on=date(2027, 1, 10),
                stage=ScoreStage.EXIT,
            ),
            "s2",
        ),
        on(
            date(2026, 6, 3),
            EventType.APPOINTMENT_ATTENDED,
            AppointmentAttended(
                appointment=Appointment(
                    appointment_id="ANC-1",
                    start=datetime(2026, 6, 3, 9, tzinfo=UTC),
                    service_type="antenatal",
                )
            ),
            "ap1",
        ),
        on(
            date(2026, 7, 3),
            EventType.APPOINTMENT_MISSED,
            AppointmentMissed(
                appointment=Appointment(
                    appointment_id="ANC-2",
                    start=datetime(2026, 7, 3, 9, tzinfo=UTC),
                    service_type="antenatal",
                )
            ),
            "ap2",
        ),
        on(
            date(2026, 7, 4),
            EventType.APPOINTMENT_MISSED,
            AppointmentMissed(
                appointment=Appointment(
                    appointment_id="S-2",
                    start=datetime(2026, 7, 4, 9, tzinfo=UTC),
                    service_type="programme-session",
                )
            ),
            "ap3",
        ),
        on(
            date(2026, 9, 20),
            EventType.PROGRAMME_PATHWAY_CHANGED,
            ProgrammePathwayChanged(
                referral_id="R1",
                programme=SF,
                from_pathway="B",
                to_pathway="C",
                changed_on=date(2026, 9, 20),
            ),
            "pc1",
        ),
        on(
            date(2027, 1, 10),
            EventType.PROGRAMME_EXITED,
            ProgrammeExited(
                referral_id="R1",
                programme=SF,
                exited_on=date(2027, 1, 10),
                reason=ExitReason.COMPLETED,
            ),
            "x1",
        ),
    ]


def test_an_episode_gathers_its_facts() -> None:
    record = folded(mother_year())
    episode = record.episodes["R1"]
    assert (episode.referred_on, episode.accepted_on, episode.first_contact_on) == (
        date(2026, 4, 1),
        date(2026, 4, 8),
        date(2026, 4, 6),
    )
    assert (episode.pathway_at_referral, episode.pathway) == ("B", "C")
    assert episode.pathway_changes == (("B", "C", date(2026, 9, 20)),)
    assert (episode.sessions_attended, episode.sessions_offered) == (5, 7)  # the latest episode
    assert (episode.exited_on, episode.exit_reason) == (date(2027, 1, 10), ExitReason.COMPLETED)
    assert episode.organisation == "355"
    assert record.characteristics.characteristics == (Characteristic.CARE_EXPERIENCED,)
    assert record.characteristics.ethnicity is EthnicCategory.BLACK_CARIBBEAN
    assert {k: a.health for k, a in record.appointments.items()} == {
        "ANC-1": True,
        "ANC-2": True,
        "S-2": False,
    }


def test_a_resent_event_changes_nothing() -> None:
    events = mother_year()
    assert folded(events + events) == folded(events)


def test_a_declined_referral_and_an_older_characteristics_record() -> None:
    record = folded(
        [
            on(
                date(2026, 5, 2),
                EventType.REFERRAL_RECEIVED,
                ReferralReceived(referral_id="R2", service=SF),
                "r2",
            ),
            on(
                date(2026, 5, 9),
                EventType.PROGRAMME_REFERRAL_DECLINED,
                ProgrammeReferralDeclined(
                    referral_id="R2",
                    programme=SF,
                    declined_on=date(2026, 5, 9),
                    declined_by="FAMILY",
                ),
                "d2",
            ),
            on(
                date(2026, 6, 1),
                EventType.CHARACTERISTICS_RECORDED,
                CharacteristicsRecorded(
                    recorded_on=date(2026, 6, 1),
                    characteristics=(
                        CharacteristicRecord(
                            characteristic=Characteristic.DOMESTIC_ABUSE,
                            lawful_basis=LawfulBasis.CONSENT,
                        ),
                    ),
                ),
                "c2",
            ),
            on(
                date(2026, 5, 1),
                EventType.CHARACTERISTICS_RECORDED,
                CharacteristicsRecorded(
                    recorded_on=date(2026, 5, 1),
                    characteristics=(
                        CharacteristicRecord(
                            characteristic=Characteristic.MENTAL_ILL_HEALTH,
                            lawful_basis=LawfulBasis.CONSENT,
                        ),
                    ),
                ),
                "c3",
            ),
        ]
    )
    assert record.episodes["R2"].declined_on == date(2026, 5, 9)
    assert record.episodes["R2"].accepted_on is None
    assert record.characteristics.characteristics == (Characteristic.DOMESTIC_ABUSE,)


def test_ethnicity_needs_its_lawful_basis() -> None:
    with pytest.raises(ValueError, match="ethnicity_basis"):
        CharacteristicsRecorded(recorded_on=date(2026, 1, 1), ethnicity=EthnicCategory.WHITE_IRISH)


def baby_events(looked_after_from: date | None, home_on: date | None = None) -> list[CaseEvent]:
    events = [
        on(
            date(2026, 9, 14),
            EventType.BIRTH_REGISTERED,
            BirthRegistered(
                mother=(PersonIdentifier(system=NHS_NUMBER_SYSTEM, value=MUM),),
                birth_date=date(2026, 9, 14),
            ),
            "b1",
            who=BABY,
        ),
    ]
    if looked_after_from:
        events.append(
            on(
                looked_after_from,
                EventType.PLAN_STARTED,
                PlanStarted(
                    plan_id="LAC-1", plan_type=PlanType.LOOKED_AFTER, started_on=looked_after_from
                ),
                "l1",
                who=BABY,
            )
        )
    if home_on:
        events.append(
            on(
                home_on,
                EventType.PLAN_ENDED,
                PlanEnded(plan_id="LAC-1", plan_type=PlanType.LOOKED_AFTER, ended_on=home_on),
                "l2",
                who=BABY,
            )
        )
    return events


@pytest.mark.parametrize(
    ("events", "day", "place"),
    [
        ([], date(2026, 9, 28), HOME),
        ([("LAC", date(2026, 9, 20))], date(2026, 9, 28), LOOKED_AFTER),
        ([("LAC", date(2026, 9, 20)), ("END", date(2026, 12, 1))], date(2027, 3, 15), HOME),
        ([("CP", date(2026, 9, 14))], date(2026, 9, 28), PLAN),
        ([("LAC", date(2026, 9, 20)), ("ADOPT", date(2027, 2, 1))], date(2027, 3, 15), AWAY),
        ([("LAC", date(2026, 9, 20)), ("HOME", date(2026, 11, 1))], date(2027, 3, 15), HOME),
    ],
)
def test_where_a_baby_is(events: list[tuple[str, date]], day: date, place: str) -> None:
    record = folded(baby_events(None), BABY)
    for kind, when in events:
        payload: Payload
        if kind == "LAC":
            payload, event_type = (
                PlanStarted(plan_id="P1", plan_type=PlanType.LOOKED_AFTER, started_on=when),
                EventType.PLAN_STARTED,
            )
        elif kind == "CP":
            payload, event_type = (
                PlanStarted(plan_id="P2", plan_type=PlanType.CHILD_PROTECTION, started_on=when),
                EventType.PLAN_STARTED,
            )
        elif kind == "END":
            payload, event_type = (
                PlanEnded(plan_id="P1", plan_type=PlanType.LOOKED_AFTER, ended_on=when),
                EventType.PLAN_ENDED,
            )
        else:
            outcome = (
                PermanenceOutcome.PLACED_FOR_ADOPTION
                if kind == "ADOPT"
                else PermanenceOutcome.RETURNED_HOME
            )
            payload, event_type = (
                PermanenceRecorded(outcome=outcome, recorded_on=when),
                EventType.PERMANENCE_RECORDED,
            )
        record = fold(record, on(when, event_type, payload, f"{kind}-{when}", who=BABY))
    assert place_on(record, day) == place


def _table(tables: list[CountTable], key: str) -> CountTable:
    return next(t for t in tables if t.key == key)


def test_the_figures_of_one_family() -> None:
    mother = folded(mother_year())
    baby = folded(baby_events(date(2026, 9, 20), home_on=date(2026, 12, 1)), BABY)
    tables = figures([mother, baby], SF, as_of=date(2027, 10, 1))
    funnel = _table(tables, "funnel")
    assert funnel.rows == (("2026-27 Q1", "B", "355"),)
    assert funnel.counts == ((1, 1, 0, 1, 1, 1),)
    engagement = _table(tables, "engagement")
    assert engagement.counts == ((1, 1, 1, 0, 0),)
    assert engagement.derived[0].rates == ((5, 7),)
    assert engagement.derived[1].averages == ((5, 1),)  # 1 April to 6 April
    gestation = _table(tables, "gestation")
    assert gestation.counts == ((0, 1, 0, 0, 0, 0),)  # 16 weeks and 2 days
    appointments = _table(tables, "appointments")
    assert appointments.counts == ((1, 1, 1),)  # the programme's own session is not counted
    babies = _table(tables, "babies_by_pathway")
    assert babies.rows == (("B", "14 days"), ("B", "6 months"), ("B", "12 months"))
    assert babies.counts == ((0, 0, 1, 0), (1, 0, 0, 0), (1, 0, 0, 0))
    assert _table(tables, "entered_care").counts == ((1, 1),)
    scores = _table(tables, "scores")
    assert scores.rows == (("WEMWBS", "B"),)
    assert scores.derived[2].averages == ((9.0, 1),)
    ethnic = _table(tables, "by_ethnic_group")
    assert dict(zip([r[0] for r in ethnic.rows], ethnic.counts, strict=True))["Black"] == (
        1,
        1,
        1,
        1,
    )
    characteristic = _table(tables, "by_characteristic")
    found = dict(zip([r[0] for r in characteristic.rows], characteristic.counts, strict=True))
    assert found["CARE_EXPERIENCED"] == (1, 1, 1, 1)
    assert found["DOMESTIC_ABUSE"] == (0, 0, 0, 0)


def test_a_baby_not_yet_a_year_old_is_counted_only_at_the_ages_reached() -> None:
    mother = folded(mother_year())
    baby = folded(baby_events(None), BABY)
    tables = figures([mother, baby], SF, as_of=date(2026, 10, 1))
    assert _table(tables, "babies_by_pathway").rows == (("B", "14 days"),)


def test_another_programme_sees_nothing_of_this_one() -> None:
    tables = figures([folded(mother_year())], "Baby and Me", as_of=date(2027, 1, 1))
    assert all(t.counts == () or not any(map(any, t.counts)) for t in tables)


@pytest.mark.parametrize(
    ("day", "quarter"),
    [
        (date(2026, 4, 1), "2026-27 Q1"),
        (date(2026, 12, 31), "2026-27 Q3"),
        (date(2027, 3, 31), "2026-27 Q4"),
        (date(2027, 1, 1), "2026-27 Q4"),
        (date(2026, 7, 1), "2026-27 Q2"),
    ],
)
def test_financial_quarters(day: date, quarter: str) -> None:
    assert financial_quarter(day) == quarter


def test_one_person_under_two_identifiers_is_counted_once() -> None:
    """The council's care period names the child id alone; the birth row names both."""
    child = PersonIdentifier(system="urn:hub:355:child", value="C-1")
    birth = baby_events(None)[0]
    birth = birth.model_copy(update={"subject": (*birth.subject, child)})
    care = on(
        date(2026, 9, 20),
        EventType.PLAN_STARTED,
        PlanStarted(
            plan_id="C-1:LAC", plan_type=PlanType.LOOKED_AFTER, started_on=date(2026, 9, 20)
        ),
        "lac",
    ).model_copy(update={"subject": (child,)})
    records = [folded(mother_year()), folded([birth], BABY), folded([care], child.key())]
    tables = figures(records, SF, as_of=date(2026, 10, 30))
    assert _table(tables, "babies_by_pathway").counts == ((0, 0, 1, 0),)  # looked after at 14 days
