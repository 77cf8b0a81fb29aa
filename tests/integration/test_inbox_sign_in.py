"""A browser without a session is sent to the sign-in page; an API client keeps its JSON 401.

In-process (real API, real SQLite store, real broker for the sink), with an HTTP client that
does not follow redirects, so the answer itself is what is checked (issue 16, point 5).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import timedelta

import pytest
from fastapi.testclient import TestClient

from hub.alerts.store import MissedAppointmentStore
from hub.auth.credentials import SESSION_COOKIE
from hub.auth.store import ClientStore
from hub.erasure.keystore import open_key_store
from hub.http.app import create_api
from hub.http.dependencies import running_hub
from hub.ingest.sink import CaseEventSink
from hub.kafka.publisher import KafkaPublisher
from hub.settings import Settings
from hub.storage.engine import make_engine

CHROMIUM = "text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,*/*;q=0.8"


@pytest.fixture
def api(make_settings: Callable[..., Settings]) -> Iterator[tuple[TestClient, ClientStore]]:
    settings = make_settings()
    store = MissedAppointmentStore(make_engine(settings.resolved_database_url()))
    publisher = KafkaPublisher(settings.bootstrap_servers())
    try:
        app = create_api(
            settings, sink=CaseEventSink(publisher, settings, open_key_store(settings)), store=store
        )
        with TestClient(app, follow_redirects=False) as client:
            yield client, running_hub(app).clients
    finally:
        publisher.close()
        store.engine.dispose()


def session(clients: ClientStore, ttl: timedelta) -> str:
    client = clients.register("R0A", "COMMUNITY_MIDWIFE", "mw-1").client
    token, _ = clients.issue_access_token(client.client_id, ttl)
    return token


@pytest.mark.parametrize("path", ["/inbox", "/inbox/alerts/no-such-alert"])
@pytest.mark.parametrize("accept", [CHROMIUM, "text/html"])
def test_a_browser_without_a_session_is_sent_to_sign_in(
    api: tuple[TestClient, ClientStore], path: str, accept: str
) -> None:
    client, _ = api
    response = client.get(path, headers={"accept": accept})
    assert (response.status_code, response.headers["location"]) == (303, "/inbox/sign-in")
    client.cookies.set(SESSION_COOKIE, "hubt_not-a-session")
    response = client.get(path, headers={"accept": accept})
    assert (response.status_code, response.headers["location"]) == (303, "/inbox/sign-in")


def test_an_expired_session_is_sent_to_sign_in_which_says_so(
    api: tuple[TestClient, ClientStore],
) -> None:
    client, clients = api
    client.cookies.set(SESSION_COOKIE, session(clients, timedelta(seconds=-1)))
    response = client.get("/inbox", headers={"accept": CHROMIUM})
    assert (response.status_code, response.headers["location"]) == (303, "/inbox/sign-in?expired=1")
    page = client.get(response.headers["location"], headers={"accept": CHROMIUM})
    assert page.status_code == 200
    assert "Your session has expired: sign in again." in page.text
    assert "expired" not in client.get("/inbox/sign-in").text.split("<main")[-1].lower()


@pytest.mark.parametrize("accept", [None, "application/json", "*/*", "application/fhir+json"])
def test_an_api_client_without_credentials_keeps_the_json_401(
    api: tuple[TestClient, ClientStore], accept: str | None
) -> None:
    client, _ = api
    headers = {"accept": accept} if accept else {}
    response = client.get("/inbox", headers=headers)
    assert response.status_code == 401
    assert response.headers["content-type"] == "application/json"
    assert "www-authenticate" in response.headers
    assert set(response.json()) == {"detail"}


def test_a_signed_in_browser_gets_its_inbox(api: tuple[TestClient, ClientStore]) -> None:
    client, clients = api
    client.cookies.set(SESSION_COOKIE, session(clients, timedelta(minutes=5)))
    response = client.get("/inbox", headers={"accept": CHROMIUM})
    assert response.status_code == 200, response.text
    assert 'id="sign-in"' not in response.text
