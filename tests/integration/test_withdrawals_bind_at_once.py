"""A withdrawal binds the very next read and push, whichever path recorded it (issue 16, 3).

No worker runs here: only the API process's own fold of what the broker acknowledged can make
the read after the 2xx exclude the data. Each path is what a user of it would send: the sharing
API, a charity's Standard Webhooks delivery and its CSV upload.
"""

from __future__ import annotations

import base64
import json
import subprocess
import sys
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from standardwebhooks.webhooks import Webhook

from hub.alerts.changes import last_seq
from hub.alerts.fold import alert_id_for
from hub.alerts.store import MissedAppointmentStore
from hub.http.app import create_api
from hub.http.dependencies import running_hub, sharing_context
from hub.http.stream import alert_events
from hub.payloads import PractitionerAssigned, Source
from hub.settings import Settings
from hub.sharing.policy import Recipient, Subject
from hub.sharing.store import SharingStore
from hub.storage.engine import make_engine
from hub.team.store import TeamStore
from hub.vocabulary import AssignmentScope, DataCategory, PractitionerRole
from tests.builders import (
    HOME_START,
    NHS_NUMBER,
    TRUST,
    acknowledged,
    assigned,
    consented,
    missed,
)
from tests.e2e.conftest import reader, register_readers
from tests.support.processes import settings_env

pytestmark = pytest.mark.kafka
APPOINTMENTS = DataCategory.APPOINTMENTS

SECRET = "whsec_" + base64.b64encode(b"a test secret of thirty-two bytes").decode()
MIDWIFE = reader("mw-1", "R0A", "COMMUNITY_MIDWIFE")
KEY_WORKER = reader("hs-3", HOME_START, "KEY_WORKER")
CHARITY_SYSTEM = reader("homestart-system", HOME_START, "PARTNER_SYSTEM")
WITHDRAWAL = {
    "record_id": "WD-1",
    "event": "consent_withdrawn",
    "occurred_on": "2026-03-03",
    "nhs_number": NHS_NUMBER,
    "recorded_by": "hs-3",
}


@pytest.fixture
def client(make_settings: Callable[..., Settings], tmp_path: Path) -> Iterator[TestClient]:
    partners = tmp_path / "partners"
    partners.mkdir()
    (partners / "homestart.toml").write_text(
        f'organisation_code = "{HOME_START}"\nconnector = "voluntary-activity"\n'
        f'[config]\nsystem = "homestart-lamplight"\norganisation_code = "{HOME_START}"\n'
        'programme = "Baby and Me"\n'
    )
    settings = make_settings(partners_dir=partners, webhook_secrets={HOME_START: SECRET})
    store = MissedAppointmentStore(make_engine(settings.resolved_database_url()))
    store.create_schema()
    team, sharing = TeamStore(store.engine), SharingStore(store.engine)
    team.create_schema()
    sharing.create_schema()
    store.apply("seed", 0, 0, missed("APT-1"))
    # The charity's key worker is on the team, so the charity is involved (ADR 0019).
    store.apply("seed", 0, 2, KEY_WORKER_ASSIGNED)
    team.apply("seed", 0, 2, KEY_WORKER_ASSIGNED)
    # The parent's consent, folded as the worker would have long ago.
    sharing.apply("seed", 0, 1, consented(categories=(APPOINTMENTS,)))
    with TestClient(create_api(settings, store=store)) as client:
        register_readers(settings.resolved_database_url())
        yield client


KEY_WORKER_ASSIGNED = assigned("hs-3").model_copy(
    update={
        "payload": PractitionerAssigned(
            practitioner_id="hs-3",
            name="Jo Bloggs",
            role=PractitionerRole.KEY_WORKER,
            organisation_code=HOME_START,
            scope=AssignmentScope.PERSON,
        )
    }
)


def by_api(client: TestClient) -> tuple[int, str]:
    body = {"subject": {"nhs_number": NHS_NUMBER}, "recipients": [HOME_START]}
    response = client.post("/sharing/withdrawals", json=body, headers=MIDWIFE)
    return response.status_code, response.text


def by_webhook(client: TestClient) -> tuple[int, str]:
    body = json.dumps(
        {"type": "consent_withdrawn", "timestamp": "2026-03-03T00:00:00Z"} | {"data": WITHDRAWAL}
    )
    message_id, now = f"msg_{uuid.uuid4().hex}", datetime.now(UTC)
    headers = {
        "webhook-id": message_id,
        "webhook-timestamp": str(int(now.timestamp())),
        "webhook-signature": Webhook(SECRET).sign(message_id, now, body),
        "content-type": "application/json",
    }
    response = client.post(f"/partners/{HOME_START}/webhooks", content=body, headers=headers)
    return response.status_code, response.text


def by_upload(client: TestClient) -> tuple[int, str]:
    csv = ",".join(WITHDRAWAL) + "\n" + ",".join(WITHDRAWAL.values()) + "\n"
    headers = {**CHARITY_SYSTEM, "content-type": "text/csv"}
    response = client.post(f"/partners/{HOME_START}/uploads", content=csv, headers=headers)
    assert response.json()["published"] == 1, response.text
    return response.status_code, response.text


@pytest.mark.parametrize("withdraw", [by_api, by_webhook, by_upload])
def test_the_read_after_the_2xx_excludes_the_withdrawn_data(
    client: TestClient, withdraw: Callable[[TestClient], tuple[int, str]]
) -> None:
    before = client.get(f"/people/{NHS_NUMBER}/alerts", headers=KEY_WORKER)
    assert [a["appointment"]["appointment_id"] for a in before.json()] == ["APT-1"], before.text

    status, text = withdraw(client)
    assert 200 <= status < 300, text

    after = client.get(f"/people/{NHS_NUMBER}/alerts", headers=KEY_WORKER)
    assert after.status_code == 200
    assert after.json() == [], "the withdrawn appointments were still shown"


@pytest.mark.parametrize("withdraw", [by_api, by_webhook, by_upload])
def test_the_push_after_the_2xx_excludes_the_withdrawn_data(
    client: TestClient, withdraw: Callable[[TestClient], tuple[int, str]]
) -> None:
    """The key worker's live stream: the trust's alert changes after the withdrawal, then the
    charity's own one (always hers to see); the first thing pushed must be the charity's."""
    store = running_hub(client.app).alerts
    cursor = last_seq(store.engine)
    status, text = withdraw(client)
    assert 200 <= status < 300, text
    trusts = alert_id_for(TRUST, "APT-1")
    store.apply("seed", 0, 3, acknowledged(trusts))
    charity = Source(system="homestart-lamplight", organisation_code=HOME_START)
    store.apply("seed", 0, 4, missed("GRP-1", source=charity))

    async def first_push() -> str:
        pushes = alert_events(
            store,
            sharing_context(running_hub(client.app)),
            Recipient(HOME_START, "KEY_WORKER", "hs-3"),
            cursor,
            poll_seconds=0.05,
            reference="test",
        )
        async for text in pushes:
            if text.startswith("id: "):
                return text
        raise AssertionError("the stream ended")

    pushed = client.portal.call(first_push)  # type: ignore[union-attr]
    assert str(alert_id_for(charity, "GRP-1")) in pushed
    assert str(trusts) not in pushed, "the withdrawn appointment was pushed"


def test_an_extract_run_withdrawal_is_applied_when_the_run_ends(
    make_settings: Callable[..., Settings], tmp_path: Path
) -> None:
    """``hub connector run`` (a partner's file dropped on a schedule) folds it as it publishes:
    when the command returns, with no worker running, the policy already has the withdrawal."""
    settings = make_settings()
    extract = tmp_path / "withdrawals.csv"
    extract.write_text(",".join(WITHDRAWAL) + "\n" + ",".join(WITHDRAWAL.values()) + "\n")
    config = tmp_path / "homestart.toml"
    config.write_text(f'system = "homestart-lamplight"\norganisation_code = "{HOME_START}"\n')
    hub = Path(sys.executable).parent / "hub"
    done = subprocess.run(
        [hub, "connector", "run", "voluntary-activity", extract, "--config", config],
        env=settings_env(settings),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    sharing = SharingStore(make_engine(settings.resolved_database_url()))
    withdrawals = sharing.facts_for(Subject(NHS_NUMBER)).withdrawals
    assert len(withdrawals) == 1, "the run's withdrawal waits for the worker"
    assert withdrawals[0].recipients == frozenset()  # all recipients: the row names none
