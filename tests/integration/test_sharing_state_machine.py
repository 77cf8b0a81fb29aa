"""A hypothesis state machine over the real API, the real store and the real broker.

Random interleavings of consents, withdrawals, safeguarding overrides, their ends and expiries,
and reads by random organisations. After every read, the answer must be exactly what the sharing
rules permit at that moment — judged by a *separate, incremental* model of the rules below, not
by the policy code — and at the end of each run every read must be in the disclosure log on
Kafka, with what it released and what it withheld.
"""

from __future__ import annotations

import itertools
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from confluent_kafka import Consumer
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule, run_state_machine_as_test

from hub.alerts.store import MissedAppointmentStore
from hub.auth.store import ClientStore
from hub.disclosures import Disclosure
from hub.erasure.keystore import open_key_store
from hub.http.app import create_api
from hub.ingest.sink import CaseEventSink
from hub.kafka.publisher import KafkaPublisher
from hub.nhs_number import valid_nhs_numbers
from hub.settings import Settings
from hub.storage.engine import make_engine
from tests.builders import HOME_START, SALFORD_COUNCIL, T0, missed
from tests.support.topics import disclosures_read

WOMENS_AID = "VCS-WOMENSAID-MCR"
VOLUNTARY = (HOME_START, WOMENS_AID)
READERS = {  # organisation -> role it reads with
    "R0A": "COMMUNITY_MIDWIFE",  # the controller of the alert
    "RM3": "COMMUNITY_MIDWIFE",
    SALFORD_COUNCIL: "SOCIAL_WORKER",
    HOME_START: "KEY_WORKER",
    WOMENS_AID: "KEY_WORKER",
    "RX9": "GP",  # not party to the agreement
}
CATEGORIES = ("APPOINTMENTS", "DEMOGRAPHICS")


nhs_numbers = valid_nhs_numbers(999_000_001)  # the 999 test range


@dataclass
class Model:
    """The rules, kept incrementally as the world changes (time only moves forward)."""

    now: datetime
    consents: dict[tuple[str, str], list[datetime | None]] = field(default_factory=dict)
    overrides: dict[str, tuple[frozenset[str], frozenset[str], datetime]] = field(
        default_factory=dict
    )

    def permitted(self, organisation: str, category: str) -> bool:
        if organisation in ("R0A", "RM3", SALFORD_COUNCIL):
            return True  # controller, or statutory partner on public task
        if organisation not in VOLUNTARY:
            return False
        consent = any(
            e is None or self.now < e for e in self.consents.get((organisation, category), [])
        )
        override = any(
            organisation in orgs and category in cats and self.now < expiry
            for orgs, cats, expiry in self.overrides.values()
        )
        return consent or override


def test_every_read_is_what_the_policy_permits_and_is_on_record(
    make_settings: Callable[..., Settings], tmp_path: Path
) -> None:
    settings_ = make_settings()
    engine = make_engine(settings_.resolved_database_url())
    store = MissedAppointmentStore(engine)
    store.create_schema()
    clock = {"now": T0 + timedelta(days=1)}
    publisher = KafkaPublisher(settings_.bootstrap_servers())
    app = create_api(
        settings_,
        sink=CaseEventSink(publisher, settings_, open_key_store(settings_)),
        store=store,
        clock=lambda: clock["now"],
    )
    clients = ClientStore(engine)
    keys: dict[tuple[str, str], str] = {}

    def authorization(organisation: str, user: str) -> dict[str, str]:
        """A registered client's API key for this reader (registered on first use)."""
        if (organisation, user) not in keys:
            registration = clients.register(organisation, READERS[organisation], user)
            keys[organisation, user] = registration.api_key
        return {"Authorization": f"Bearer {keys[organisation, user]}"}

    reads: dict[str, tuple[str, set[str]]] = {}  # reader user id -> (organisation, released)
    ids = itertools.count()

    class SharingMachine(RuleBasedStateMachine):
        def __init__(self) -> None:
            super().__init__()
            self.model = Model(clock["now"])
            self.run = uuid.uuid4().hex[:6]
            self.nhs_number = next(nhs_numbers)  # a new mother per run: no earlier run's facts
            self.subject = {"nhs_number": self.nhs_number}
            store.apply("seed", 0, next(ids), missed(f"APT-{self.run}", nhs_number=self.nhs_number))

        def tick(self, hours: int = 1) -> None:
            clock["now"] += timedelta(hours=hours)
            self.model.now = clock["now"]

        def post(self, path: str, organisation: str, body: dict[str, Any]) -> None:
            headers = authorization(organisation, f"writer-{organisation}")
            response = client.post(path, headers=headers, json={"subject": self.subject, **body})
            assert response.status_code == 202, response.text
            self.tick()

        @rule(
            recipients=st.sets(st.sampled_from(VOLUNTARY), min_size=1),
            categories=st.sets(st.sampled_from(CATEGORIES), min_size=1),
            lasts=st.none() | st.integers(1, 72),
        )
        def consent(self, recipients: set[str], categories: set[str], lasts: int | None) -> None:
            expiry = None if lasts is None else clock["now"] + timedelta(hours=lasts)
            body: dict[str, Any] = {
                "consent_id": f"c-{self.run}-{next(ids)}",
                "recipients": sorted(recipients),
                "categories": sorted(categories),
                "method": "WRITTEN",
            }
            if expiry is not None:
                body["expires_at"] = expiry.isoformat()
            self.post("/sharing/consents", "R0A", body)
            for pair in itertools.product(recipients, categories):
                self.model.consents.setdefault(pair, []).append(expiry)

        @rule(
            recipients=st.sets(st.sampled_from(VOLUNTARY)),
            categories=st.sets(st.sampled_from(CATEGORIES)),
        )
        def withdraw(self, recipients: set[str], categories: set[str]) -> None:
            body = {"recipients": sorted(recipients), "categories": sorted(categories)}
            self.post("/sharing/withdrawals", "R0A", body)
            for org, category in itertools.product(
                recipients or VOLUNTARY, categories or CATEGORIES
            ):
                self.model.consents.pop((org, category), None)

        @rule(
            recipients=st.sets(st.sampled_from(VOLUNTARY), min_size=1),
            categories=st.sets(st.sampled_from(CATEGORIES), min_size=1),
            hours=st.integers(1, 48),
        )
        def override(self, recipients: set[str], categories: set[str], hours: int) -> None:
            override_id = f"o-{self.run}-{next(ids)}"
            expiry = clock["now"] + timedelta(hours=hours)
            body = {
                "override_id": override_id,
                "reason_code": "RISK_OF_SIGNIFICANT_HARM",
                "recipients": sorted(recipients),
                "categories": sorted(categories),
                "expires_at": expiry.isoformat(),
            }
            self.post("/sharing/overrides", SALFORD_COUNCIL, body)
            self.model.overrides[override_id] = (
                frozenset(recipients),
                frozenset(categories),
                expiry,
            )

        @rule(data=st.data())
        def end_override(self, data: st.DataObject) -> None:
            if not self.model.overrides:
                return
            override_id = data.draw(st.sampled_from(sorted(self.model.overrides)))
            self.post(f"/sharing/overrides/{override_id}/end", SALFORD_COUNCIL, {})
            del self.model.overrides[override_id]

        @rule(hours=st.integers(1, 100))
        def time_passes(self, hours: int) -> None:
            self.tick(hours)

        @rule(organisation=st.sampled_from(sorted(READERS)))
        def read(self, organisation: str) -> None:
            user = f"reader-{self.run}-{next(ids)}"
            headers = authorization(organisation, user)
            response = client.get(f"/people/{self.nhs_number}/alerts", headers=headers)
            assert response.status_code == 200, response.text
            shown = response.json()
            expected = {c for c in CATEGORIES if self.model.permitted(organisation, c)}
            released: set[str] = set()
            if "APPOINTMENTS" in expected:
                [alert] = shown
                released.add("APPOINTMENTS")
                if alert["person"] is not None:
                    released.add("DEMOGRAPHICS")
                assert (alert["person"] is not None) == ("DEMOGRAPHICS" in expected)
            else:
                assert shown == [], f"{organisation} saw {shown} at {clock['now']}"
            reads[user] = (organisation, released)

        @invariant()
        def clock_moves_forward(self) -> None:
            assert self.model.now == clock["now"]

    with TestClient(app) as client:
        run_state_machine_as_test(
            SharingMachine,
            settings=settings(
                max_examples=25,
                stateful_step_count=20,
                suppress_health_check=[HealthCheck.too_slow],
            ),
        )
    publisher.close()

    logged = {d.recipient_user: d for d in _disclosures(settings_, expect=len(reads))}
    for user, (organisation, released) in reads.items():
        disclosure = logged.get(user)
        assert disclosure is not None, f"read by {user} ({organisation}) is not in the log"
        assert {i.category.value for i in disclosure.items} == released
        assert {w.category.value for w in disclosure.withheld} == set(CATEGORIES) - released


def _disclosures(settings_: Settings, *, expect: int) -> Iterator[Disclosure]:
    codec = disclosures_read(settings_)
    consumer = Consumer(
        {
            "bootstrap.servers": settings_.bootstrap_servers(),
            "group.id": f"test-{uuid.uuid4().hex}",
            "auto.offset.reset": "earliest",
            "enable.auto.commit": False,
        }
    )
    consumer.subscribe([settings_.disclosures_topic])
    found = 0
    deadline = datetime.now(UTC) + timedelta(seconds=60)
    try:
        while found < expect and datetime.now(UTC) < deadline:
            message = consumer.poll(0.5)
            if message is None or message.error():
                continue
            found += 1
            yield codec.decode(message.value() or b"")
    finally:
        consumer.close()


pytestmark = pytest.mark.filterwarnings("ignore::hypothesis.errors.NonInteractiveExampleWarning")
