"""The Newport demo's story as the real connectors map it (hub.processes.demo_newport): what
`make run` publishes, checked without a broker."""

from __future__ import annotations

from datetime import date, timedelta

from hub.alerts.fold import fold
from hub.alerts.state import Rules, empty_state
from hub.connectors.sources import load_sources
from hub.payloads import (
    AppointmentMissed,
    PersonRegistered,
    ProgrammeActivityRecorded,
    ProgrammeProgress,
    ReferralReceived,
)
from hub.processes.demo_newport import NEWPORT_MIDWIFE, newport_events
from hub.vocabulary import ProgrammeActivity

TODAY = date(2026, 12, 2)


def test_the_story_is_baby_and_me_in_newport() -> None:
    events = newport_events(TODAY, load_sources())
    [referral] = [e.payload for e in events if isinstance(e.payload, ReferralReceived)]
    assert (referral.service, referral.referral_source) == (
        "Baby and Me",
        "Newport children's services",
    )
    referred = next(e for e in events if isinstance(e.payload, ReferralReceived)).occurred_at
    assert referral.expected_delivery_date is not None
    weeks_pregnant = 40 - (referral.expected_delivery_date - referred.date()).days // 7
    assert weeks_pregnant == 14  # within Baby and Me's 12-24 weeks
    activities = {
        e.payload.activity for e in events if isinstance(e.payload, ProgrammeActivityRecorded)
    }
    assert {
        ProgrammeActivity.FAMILY_GROUP_CONFERENCE_HELD,
        ProgrammeActivity.DADS_WORKER_INVOLVED,
    } <= activities
    [progress] = [e.payload for e in events if isinstance(e.payload, ProgrammeProgress)]
    assert (progress.stage, progress.sessions_planned) == ("Baby Steps", 7)
    [(board, registered)] = [
        (e.source.organisation_code, e.payload)
        for e in events
        if isinstance(e.payload, PersonRegistered)
    ]
    assert (board, registered.language) == ("7A6", "cy")
    [missed] = [e for e in events if isinstance(e.payload, AppointmentMissed)]
    assert missed.occurred_at.date() == TODAY - timedelta(days=1)


def test_the_no_show_is_an_alert_for_the_welsh_speaking_mothers_midwife() -> None:
    state = empty_state("family-newport")
    for event in newport_events(TODAY, load_sources()):
        state, _ = fold(state, event, Rules())
    [alert] = state.alerts.values()
    organisation, _, midwife = NEWPORT_MIDWIFE
    assert {(r.organisation_code, r.practitioner_id) for r in alert.recipients} == {
        (organisation, midwife)
    }
    assert state.people[alert.subject_key].language == "cy"


def test_loading_the_story_twice_gives_the_same_events() -> None:
    ids = [e.event_id for e in newport_events(TODAY, load_sources())]
    assert ids == [e.event_id for e in newport_events(TODAY, load_sources())]
    assert len(set(ids)) == len(ids)
