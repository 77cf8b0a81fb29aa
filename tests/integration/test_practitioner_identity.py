"""A practitioner is (organisation, id): a namesake in another organisation gets nothing of hers.

Issue 17, point 2, as the attacker did it: a council social worker registered with the same user
id as a charity key worker (``kw-7``). The council is a party to the agreement and may lawfully
see the mother's routine data, so only *addressing* stands between her and the key worker's
alerts. Every route that names a practitioner or an alert is called by both readers: the charity
key worker reads, acknowledges and closes her alert; the council's ``kw-7`` can list, read,
acknowledge, close, stream and see the caseload of none of it — neither as "kw-7" (her own
organisation, by default) nor by naming the charity (``?organisation=``, for governance roles).

In-process: real SQLite stores, the real gate, disclosures to the real broker (as
``tests/integration/test_team_routes.py``).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from datetime import timedelta

import pytest
from fastapi.testclient import TestClient

from hub.alerts.fold import alert_id_for
from hub.alerts.store import MissedAppointmentStore
from hub.erasure.keystore import open_key_store
from hub.events import CaseEvent
from hub.http.app import create_api
from hub.http.dependencies import running_hub, sharing_context
from hub.http.stream import alert_events
from hub.identity.store import IdentityStore
from hub.ingest.sink import CaseEventSink
from hub.kafka.publisher import KafkaPublisher
from hub.services.release import SharingContext
from hub.settings import Settings
from hub.sharing.policy import Recipient
from hub.sharing.store import SharingStore
from hub.storage.engine import make_engine
from hub.team.store import TeamStore
from hub.vocabulary import DataCategory, PractitionerRole
from tests.builders import (
    HOME_START,
    SALFORD_COUNCIL,
    T0,
    TRUST,
    assigned,
    consented,
    missed,
    registered,
)
from tests.conftest import build_settings
from tests.e2e.conftest import reader, register_readers

pytestmark = pytest.mark.kafka

NOW = T0 + timedelta(hours=1)
TOPIC = "family-events"
OTHER_MOTHER = "4010232137"
KEY_WORKER = Recipient(HOME_START, "KEY_WORKER", "kw-7")
SOCIAL_WORKER = Recipient(SALFORD_COUNCIL, "SOCIAL_WORKER", "kw-7")  # the namesake
READERS = {"charity key worker": KEY_WORKER, "council social worker": SOCIAL_WORKER}
ALERT = str(alert_id_for(TRUST, "APT-1"))  # addressed to the charity's kw-7
OWN_ALERT = str(alert_id_for(TRUST, "APT-9"))  # another mother's, addressed to the council's kw-7


def story() -> list[CaseEvent]:
    return [
        registered(given="Amy", family="Example"),
        assigned("kw-7", PractitionerRole.KEY_WORKER, organisation_code=HOME_START),
        consented(
            categories=(
                DataCategory.APPOINTMENTS,
                DataCategory.DEMOGRAPHICS,
                DataCategory.PRACTITIONER_ALLOCATION,
            )
        ),
        missed("APT-1"),
        # The council's kw-7 has an alert of her own, about another mother.
        assigned(
            "kw-7",
            PractitionerRole.KEY_WORKER,
            organisation_code=SALFORD_COUNCIL,
            nhs_number=OTHER_MOTHER,
        ),
        missed("APT-9", nhs_number=OTHER_MOTHER),
    ]


@dataclass
class Hub:
    client: TestClient
    store: MissedAppointmentStore
    context: SharingContext


@pytest.fixture
def hub(make_settings: Callable[..., Settings]) -> Iterator[Hub]:
    yield from _hub(make_settings())


@pytest.fixture(scope="module")
def reads_hub(kafka_bootstrap: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Hub]:
    """One hub for the module's reads: a read changes no alert, team or fact the next read's
    answer depends on (its disclosures go to the topic, which nothing folds here)."""
    yield from _hub(build_settings(kafka_bootstrap, state_dir=tmp_path_factory.mktemp("reads")))


def _hub(settings: Settings) -> Iterator[Hub]:
    engine = make_engine(settings.resolved_database_url())
    store = MissedAppointmentStore(engine)
    store.create_schema()
    identity, team, sharing = IdentityStore(engine), TeamStore(engine), SharingStore(engine)
    team.create_schema()
    identity.create_schema()
    sharing.create_schema()
    for offset, event in enumerate(story()):
        identity.apply("case-events", 0, offset, event)
        team.apply(TOPIC, 0, offset, event)
        store.apply(TOPIC, 0, offset, event)
        sharing.record_now(event)
    publisher = KafkaPublisher(settings.bootstrap_servers())
    sink = CaseEventSink(publisher, settings, open_key_store(settings))
    app = create_api(settings, sink=sink, store=store, clock=lambda: NOW)
    with TestClient(app) as client:
        for who in READERS.values():
            reader(who.user_id, who.organisation_code, who.role)
        register_readers(settings.resolved_database_url())
        context = sharing_context(running_hub(app))
        yield Hub(client, store, context)
    publisher.close()


def headers(who: Recipient) -> dict[str, str]:
    return {**reader(who.user_id, who.organisation_code, who.role), "Origin": "http://testserver"}


def alert_ids(body: dict[str, object]) -> list[str]:
    alerts = body["alerts"]
    assert isinstance(alerts, list)
    return [a["alert_id"] for a in alerts]


# (what, method, path) -> (the charity key worker's status, the council social worker's status).
# Every read of the alert is checked for its id in the body; every change by its effect.
ROUTES: list[tuple[str, str, str, int, int]] = [
    ("list her inbox", "GET", "/practitioners/kw-7/alerts", 200, 200),
    ("name the charity", "GET", f"/practitioners/kw-7/alerts?organisation={HOME_START}", 200, 403),
    ("read the caseload", "GET", "/practitioners/kw-7/caseload", 200, 200),
    (
        "name the charity's caseload",
        "GET",
        f"/practitioners/kw-7/caseload?organisation={HOME_START}",
        200,
        403,
    ),
    (
        "stream the charity's alerts",
        "GET",
        f"/practitioners/kw-7/alerts/stream?organisation={HOME_START}",
        -1,  # an open stream for her: taken through alert_events below
        403,
    ),
    ("the inbox page", "GET", "/inbox", 200, 200),
    ("the alert's page", "GET", f"/inbox/alerts/{ALERT}", 200, 404),
]
CHANGES: list[tuple[str, str, dict[str, str] | None, dict[str, str] | None]] = [
    ("acknowledge", f"/alerts/{ALERT}/acknowledge", {"note": "seen"}, None),
    ("close", f"/alerts/{ALERT}/close", {"reason": "closing it"}, None),
    ("acknowledge on the page", f"/inbox/alerts/{ALERT}/acknowledge", None, {"note": "seen"}),
    ("close on the page", f"/inbox/alerts/{ALERT}/close", None, {"reason": "closing it"}),
]


@pytest.mark.parametrize(("what", "method", "path", "charity", "council"), ROUTES)
def test_every_read_names_the_practitioner_by_organisation_and_id(
    reads_hub: Hub, what: str, method: str, path: str, charity: int, council: int
) -> None:
    hub = reads_hub
    for who, expected in ((KEY_WORKER, charity), (SOCIAL_WORKER, council)):
        if expected < 0:
            continue
        response = hub.client.request(method, path, headers=headers(who))
        assert response.status_code == expected, (what, who, response.text)
        secrets = {"Amy"} | (set() if ALERT in path else {ALERT})  # the id, unless echoed
        has_her_alert = any(secret in response.text for secret in secrets)
        assert has_her_alert is (who == KEY_WORKER and expected == 200), (what, who)
    mine = hub.client.get("/practitioners/kw-7/alerts", headers=headers(SOCIAL_WORKER)).json()
    assert (mine["organisation_code"], alert_ids(mine)) == (SALFORD_COUNCIL, [OWN_ALERT])


@pytest.mark.parametrize(("what", "path", "body", "form"), CHANGES)
def test_only_the_addressed_practitioner_changes_the_alert(
    hub: Hub, what: str, path: str, body: dict[str, str] | None, form: dict[str, str] | None
) -> None:
    def post(who: Recipient) -> int:
        response = hub.client.post(
            path, json=body, data=form, headers=headers(who), follow_redirects=False
        )
        return response.status_code

    assert post(SOCIAL_WORKER) == 404, what  # as for an alert that does not exist
    assert post(KEY_WORKER) in (202, 303), what


def test_the_council_namesakes_caseload_does_not_list_the_charitys_family(hub: Hub) -> None:
    charity = hub.client.get("/practitioners/kw-7/caseload", headers=headers(KEY_WORKER)).json()
    council = hub.client.get("/practitioners/kw-7/caseload", headers=headers(SOCIAL_WORKER)).json()
    assert [f["roles"] for f in charity["families"]] == [["KEY_WORKER"]]
    assert charity["organisation_code"] == HOME_START
    members = [m["person_id"] for f in council["families"] for m in f["members"]]
    assert charity["families"][0]["members"][0]["person_id"] not in members


async def _first_event(stream: AsyncIterator[str]) -> str:
    """The stream's first event (comments and the retry line skipped); bounded so that a
    stream that never sends fails the test instead of hanging it."""
    while True:
        text = await asyncio.wait_for(anext(stream), 60)
        if not text.startswith((":", "retry:")):
            return text


@pytest.mark.parametrize(
    ("who", "first"), [(KEY_WORKER, ALERT), (SOCIAL_WORKER, OWN_ALERT)], ids=list(READERS)
)
def test_each_streams_only_her_own_alerts(hub: Hub, who: Recipient, first: str) -> None:
    """The feed holds the charity's alert before the council's: were the namesake addressed by
    id alone, the charity's would be the first event of her stream."""
    stream = alert_events(hub.store, hub.context, who, 0, poll_seconds=0.1, reference="test")
    text = asyncio.run(_first_event(stream))
    other = OWN_ALERT if first == ALERT else ALERT
    assert (first in text, other in text) == (True, False)
