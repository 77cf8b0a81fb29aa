"""Partner authentication over real HTTP, against the API as a real process (ADR 0012).

* Every route of the app answers 401 without credentials, except a short, explicit allow-list:
  a route added later without ``reader_identity`` fails here.
* ``POST /oauth2/token`` issues an access token for a good signed-JWT assertion, and refuses a
  wrong key id or signature, a wrong audience, an expired assertion, one that lives too long, a
  replayed ``jti``, a revoked and an unknown client.
* API keys work as ``Authorization: Bearer`` and ``X-API-Key``; a revoked one does not.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from fastapi.routing import iter_route_contexts

from hub.auth.assertions import ASSERTION_TYPE
from hub.auth.store import ClientStore
from hub.events import utc_now
from hub.http.app import create_api
from hub.settings import Settings
from hub.storage.engine import make_engine
from tests.conftest import build_settings
from tests.e2e.conftest import api_process, reader, sender
from tests.support.net import free_port

pytestmark = pytest.mark.kafka

# Routes anyone may call. Each is here for a reason; keep the list short.
PUBLIC = {
    ("GET", "/health"),  # the whole hub's state, for monitoring and `make run`
    ("GET", "/health/ready"),  # readiness of one API process, for load balancers
    ("GET", "/metrics"),  # aggregate counts only, for Prometheus (ADR 0018)
    ("GET", "/openapi.json"),
    ("GET", "/docs"),
    ("GET", "/docs/oauth2-redirect"),
    ("GET", "/redoc"),
    ("POST", "/oauth2/token"),  # the client authenticates with its signed assertion
    ("POST", "/partners/{code}/webhooks"),  # authenticated by its Standard Webhooks signature
    ("GET", "/inbox/sign-in"),  # the web pages' sign-in form ...
    ("POST", "/inbox/sign-in"),  # ... which checks the API key it is given
    ("POST", "/inbox/language"),  # the reader's language, chosen before she signs in (ADR 0034)
}
FORM = {"Content-Type": "application/x-www-form-urlencoded"}


@pytest.fixture(scope="module")
def private_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture(scope="module")
def api(
    kafka_bootstrap: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[Settings, str]]:
    """One API process for the module: each test registers clients of its own (its own user
    ids), so none sees another's, and starting the API once saves five starts."""
    state = tmp_path_factory.mktemp("authentication")
    settings = build_settings(kafka_bootstrap, state_dir=state, api_port=free_port())
    with api_process(settings, state) as base:
        yield settings, base


@pytest.fixture
def clients(api: tuple[Settings, str]) -> Iterator[ClientStore]:
    """The client store of the API's own database (the way `hub clients` reaches it)."""
    engine = make_engine(api[0].resolved_database_url())
    yield ClientStore(engine)
    engine.dispose()


def _routes(settings: Settings) -> list[tuple[str, str]]:
    """Every (method, path) the app serves, routers included at any depth.

    FastAPI keeps included routers as nested entries of ``app.routes``; its public
    ``iter_route_contexts`` walks them with their full paths.
    """
    found = []
    for route in iter_route_contexts(create_api(settings).routes):
        assert route.path is not None, f"a route without a path: {route.original_route!r}"
        found += [
            (method, route.path) for method in sorted(route.methods or ()) if method != "HEAD"
        ]
    return found


def _concrete(path: str) -> str:
    return re.sub(r"\{[^}]+\}", "x", path)


def test_every_route_but_the_public_ones_needs_credentials(api: tuple[Settings, str]) -> None:
    settings, base = api
    routes = _routes(settings)
    assert set(routes) >= PUBLIC, (
        f"allow-listed routes that no longer exist: {PUBLIC - set(routes)}"
    )
    protected = [route for route in routes if route not in PUBLIC]
    assert len(protected) >= 15, protected  # the enumeration found the API's routes
    retired = {"X-Hub-Organisation": "R0A", "X-Hub-Role": "COMMUNITY_MIDWIFE", "X-Hub-User": "mw-1"}
    for method, path in protected:
        url = f"{base}{_concrete(path)}"
        bare = httpx.request(method, url, timeout=10)
        assert bare.status_code == 401, (
            f"{method} {path} answered {bare.status_code} without credentials"
        )
        assert bare.headers["WWW-Authenticate"].startswith("Bearer ")
        assert "no credentials" in bare.text  # "detail", or an OperationOutcome on /fhir
        old = httpx.request(method, url, headers=retired, timeout=10)
        assert old.status_code == 401, f"{method} {path} trusted the retired X-Hub-* headers"
        assert "retired" in old.text
    assert httpx.get(f"{base}/health", timeout=10).status_code in (200, 503)  # public


def test_api_keys_as_bearer_or_x_api_key_and_revoked(
    api: tuple[Settings, str], clients: ClientStore
) -> None:
    _, base = api
    registration = clients.register("R0A", "COMMUNITY_MIDWIFE", "mw-9")
    key = registration.api_key
    url = f"{base}/practitioners/mw-9/alerts"
    assert httpx.get(url, headers={"Authorization": f"Bearer {key}"}).json()["alerts"] == []
    assert httpx.get(url, headers={"X-API-Key": key}).status_code == 200
    # The identity is the registered client's, whatever else the request says:
    as_other = httpx.get(f"{base}/practitioners/mw-1/alerts", headers={"X-API-Key": key})
    assert as_other.status_code == 403
    wrong = httpx.get(url, headers={"Authorization": f"Bearer {key[:-3]}abc"})
    assert wrong.status_code == 401
    assert wrong.json()["detail"] == "unknown or revoked API key"
    basic = httpx.get(url, headers={"Authorization": "Basic bXctOTpwYXNz"})
    assert basic.status_code == 401
    assert "Bearer" in basic.json()["detail"]
    clients.revoke(registration.client.client_id)
    revoked = httpx.get(url, headers={"Authorization": f"Bearer {key}"})
    assert revoked.status_code == 401
    assert revoked.json()["detail"] == "unknown or revoked API key"


def test_a_sender_writes_only_as_its_own_organisation(api: tuple[Settings, str]) -> None:
    _, base = api
    headers = {"Content-Type": "application/fhir+json", **sender("R0A")}
    other = httpx.post(
        f"{base}/fhir/Patient", content=b"{}", headers={**headers, "X-Source-Organisation": "RM3"}
    )
    assert other.status_code == 403
    assert other.json()["resourceType"] == "OperationOutcome"
    assert "not the authenticated client's organisation" in other.json()["issue"][0]["diagnostics"]
    assert httpx.post(f"{base}/fhir/Patient", content=b"{}", headers=headers).status_code == 422


def _public_pem(key: rsa.RSAPrivateKey) -> str:
    return (
        key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )


def _assertion(
    key: rsa.RSAPrivateKey, client_id: str, audience: str, kid: str = "k1", **claims: Any
) -> str:
    now = utc_now()
    values: dict[str, Any] = {
        "iss": client_id,
        "sub": client_id,
        "aud": audience,
        "jti": str(uuid.uuid4()),
        "exp": int((now + timedelta(minutes=4)).timestamp()),
        **claims,
    }
    return jwt.encode(values, key, algorithm="RS512", headers={"kid": kid})


def _token_request(base: str, assertion: str, **form: str) -> httpx.Response:
    data = {
        "grant_type": "client_credentials",
        "client_assertion_type": ASSERTION_TYPE,
        "client_assertion": assertion,
        **form,
    }
    return httpx.post(f"{base}/oauth2/token", data=data, timeout=10)


def test_signed_jwt_client_credentials(
    api: tuple[Settings, str], clients: ClientStore, private_key: rsa.RSAPrivateKey
) -> None:
    settings, base = api
    audience = settings.resolved_token_url()
    assert audience == f"{base}/oauth2/token"
    pem = _public_pem(private_key)
    client = clients.register(
        "R0A", "PARTNER_SYSTEM", "r0a-epr", public_key_pem=pem, kid="k1"
    ).client
    assertion = _assertion(private_key, client.client_id, audience)

    granted = _token_request(base, assertion)
    assert granted.status_code == 200, granted.text
    body = granted.json()
    assert body["token_type"] == "bearer"
    assert body["expires_in"] == settings.access_token_seconds
    assert granted.headers["Cache-Control"] == "no-store"
    token = body["access_token"]
    url = f"{base}/practitioners/r0a-epr/alerts"
    assert httpx.get(url, headers={"Authorization": f"Bearer {token}"}).status_code == 200
    assert httpx.get(url, cookies={"hub_session": token}).status_code == 200

    def refused(response: httpx.Response, status: int, error: str, fragment: str) -> None:
        assert response.status_code == status, response.text
        assert response.json()["error"] == error
        assert fragment in response.json()["error_description"]

    other_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    cid = client.client_id
    refused(_token_request(base, assertion), 400, "invalid_request", "'jti' was used before")
    refused(
        _token_request(base, _assertion(private_key, cid, audience, kid="k2")),
        401,
        "invalid_client",
        "'kid'",
    )
    refused(
        _token_request(base, _assertion(other_key, cid, audience)),
        401,
        "invalid_client",
        "signature",
    )
    refused(
        _token_request(base, _assertion(private_key, cid, "http://elsewhere/oauth2/token")),
        401,
        "invalid_client",
        "'aud'",
    )
    past = int((utc_now() - timedelta(seconds=5)).timestamp())
    refused(
        _token_request(base, _assertion(private_key, cid, audience, exp=past)),
        401,
        "invalid_client",
        "expired",
    )
    far = int((utc_now() + timedelta(minutes=6)).timestamp())
    refused(
        _token_request(base, _assertion(private_key, cid, audience, exp=far)),
        400,
        "invalid_request",
        "'exp'",
    )
    refused(
        _token_request(base, _assertion(private_key, "0000000000000000", audience)),
        401,
        "invalid_client",
        "unknown or revoked client",
    )
    refused(
        _token_request(base, assertion, grant_type="password"),
        400,
        "unsupported_grant_type",
        "client_credentials",
    )
    as_json = httpx.post(f"{base}/oauth2/token", json={"grant_type": "client_credentials"})
    assert as_json.status_code == 400
    assert as_json.json()["error"] == "invalid_request"

    clients.revoke(cid)
    refused(
        _token_request(base, _assertion(private_key, cid, audience)),
        401,
        "invalid_client",
        "revoked",
    )
    gone = httpx.get(url, headers={"Authorization": f"Bearer {token}"})
    assert gone.status_code == 401
    assert gone.json()["detail"] == "unknown or revoked access token"


def test_an_expired_access_token_says_so(api: tuple[Settings, str], clients: ClientStore) -> None:
    _, base = api
    client = clients.register("R0A", "COMMUNITY_MIDWIFE", "mw-5").client
    token, _ = clients.issue_access_token(
        client.client_id, timedelta(minutes=10), utc_now() - timedelta(minutes=11)
    )
    response = httpx.get(
        f"{base}/practitioners/mw-5/alerts", headers={"Authorization": f"Bearer {token}"}
    )
    assert response.status_code == 401
    assert "expired" in response.json()["detail"]
    assert 'error="invalid_token"' in response.headers["WWW-Authenticate"]


def test_the_e2e_reader_helper_authenticates(api: tuple[Settings, str]) -> None:
    _, base = api
    # A reader named after the API started is registered in its database at once.
    user = f"mw-late-{uuid.uuid4().hex[:6]}"
    late = reader(user, "R0A", "COMMUNITY_MIDWIFE")
    assert httpx.get(f"{base}/practitioners/{user}/alerts", headers=late).status_code == 200
    assert httpx.get(f"{base}/practitioners/mw-1/alerts", headers=late).status_code == 403
