"""The alert timers against the real broker and worker: inferred no-shows and escalations.

The first test drives the timers with a clock the test controls (the worker process applies
what they publish); the second lets the worker's own timer fire on the wall clock, with a grace
period of a second, to show it is wired in.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from hub.alerts.state import AlertStatus, Rules
from hub.alerts.store import MissedAppointmentStore
from hub.alerts.timers import AlertTimers, SweepReport
from hub.erasure.keystore import open_key_store
from hub.events import utc_now
from hub.identity.store import IdentityStore
from hub.ingest.sink import CaseEventSink
from hub.kafka.publisher import KafkaPublisher
from hub.settings import Settings
from hub.storage.engine import make_engine
from hub.vocabulary import PractitionerRole
from tests.builders import NHS_NUMBER, T0, assigned, attended, booked, cancelled, ref, refs
from tests.support.processes import eventually, hub_process

pytestmark = pytest.mark.kafka


def outcomes(store: MissedAppointmentStore) -> list[str | None]:
    """The mother's bookings' outcomes, by appointment id."""
    family = IdentityStore(store.engine).family_key_of(NHS_NUMBER)
    if family is None:
        return []
    bookings = sorted(
        store.state_of(family).bookings.values(), key=lambda b: b.appointment.appointment_id
    )
    return [b.outcome.value if b.outcome else None for b in bookings]


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


def test_a_booking_with_no_outcome_becomes_an_alert_then_escalates_when_unacknowledged(
    make_settings: Callable[..., Settings], tmp_path: Path
) -> None:
    # The worker's own timer must not interfere: it sweeps once a day here.
    settings = make_settings(alert_sweep_seconds=86_400)
    rules = Rules(
        grace=timedelta(minutes=30),
        escalate_unacknowledged_after=timedelta(hours=24),
        safeguarding_leads={"R0A": "r0a-named-midwife-safeguarding"},
    )
    store = MissedAppointmentStore(make_engine(settings.resolved_database_url()), rules)
    store.create_schema()
    IdentityStore(store.engine).create_schema()  # read by outcomes() before the worker starts
    publisher = KafkaPublisher(settings.bootstrap_servers())
    sink = CaseEventSink(publisher, settings, open_key_store(settings))
    clock = Clock(T0 - timedelta(days=1))
    timers = AlertTimers(store, sink, rules, clock)
    try:
        for event in [
            assigned("mw-1"),
            assigned("kw-1", PractitionerRole.KEY_WORKER),
            booked("APT-1", T0),  # she never comes
            booked("APT-2", T0),
            attended("APT-2"),  # she came
            booked("APT-3", T0),
            cancelled("APT-3"),  # cancelled in time
        ]:
            sink.publish_sync(event)
        with hub_process("worker", settings, tmp_path):
            log = tmp_path / "worker.log"
            eventually(
                lambda: outcomes(store) == [None, "ATTENDED", "CANCELLED"],
                timeout_s=90,
                what="three bookings and their outcomes applied",
                log=log,
            )

            def sweep() -> SweepReport:
                return asyncio.run(timers.sweep())

            assert sweep() == SweepReport(inferred=0, escalated=0)  # the day before

            clock.now = T0 + timedelta(minutes=29)
            assert sweep() == SweepReport(inferred=0, escalated=0)  # still in the grace period

            clock.now = T0 + timedelta(minutes=31)
            assert sweep().inferred == 1
            eventually(
                lambda: len(store.open_alerts_for(ref("mw-1"))) == 1,
                timeout_s=60,
                what="the inferred no-show's alert",
                log=log,
            )
            [view] = store.open_alerts_for(ref("kw-1"))
            alert = view.alert
            assert alert.inferred
            assert alert.appointment.appointment_id == "APT-1"
            assert alert.recipients == refs("mw-1", "kw-1")
            assert sweep() == SweepReport(inferred=0, escalated=0)  # nothing due twice

            clock.now = alert.raised_at + timedelta(hours=24)
            assert sweep().escalated == 1
            eventually(
                lambda: store.open_alerts_for(ref("r0a-named-midwife-safeguarding")) != [],
                timeout_s=60,
                what="escalation to the safeguarding lead",
                log=log,
            )
            [escalated] = store.open_alerts_for(ref("r0a-named-midwife-safeguarding"))
            assert escalated.alert.status is AlertStatus.OPEN
            assert escalated.alert.alert_id == alert.alert_id
            assert sweep() == SweepReport(inferred=0, escalated=0)
    finally:
        publisher.close()


def test_the_workers_own_timer_infers_a_no_show(
    make_settings: Callable[..., Settings], tmp_path: Path
) -> None:
    settings = make_settings(alert_grace_minutes=1 / 60, alert_sweep_seconds=1)
    store = MissedAppointmentStore(make_engine(settings.resolved_database_url()))
    store.create_schema()
    publisher = KafkaPublisher(settings.bootstrap_servers())
    sink = CaseEventSink(publisher, settings, open_key_store(settings))
    try:
        sink.publish_sync(assigned("mw-1"))
        sink.publish_sync(booked("APT-NOW", utc_now()))
        with hub_process("worker", settings, tmp_path):
            eventually(
                lambda: len(store.open_alerts_for(ref("mw-1"))) == 1,
                timeout_s=90,
                what="an inferred no-show from the worker's timer",
                log=tmp_path / "worker.log",
            )
        [view] = store.open_alerts_for(ref("mw-1"))
        assert view.alert.inferred
    finally:
        publisher.close()
