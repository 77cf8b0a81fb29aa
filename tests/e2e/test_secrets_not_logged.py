"""No credential reaches a log line or an error body (issue 7, security checks).

One API process at ``HUB_LOG_LEVEL=DEBUG`` (uvicorn's access and error logs included) on a
PostgreSQL database whose URL carries a password is put through every flow that handles a
secret: ``hub clients add``, ``/oauth2/token`` with a signed assertion, API keys as
``Authorization``, ``X-API-Key`` and (against the documentation) in the query string, the web
sign-in and its session cookie, a webhook subscription whose secret is shown once, a partner's
signed webhook, and wrong credentials of each kind. Then the process's whole log file, the CLI's
standard error and every error body are searched for each secret.
"""

from __future__ import annotations

import base64
import json
import subprocess
import sys
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from standardwebhooks.webhooks import Webhook

from hub.auth.store import ClientStore
from hub.settings import Settings
from hub.storage.engine import make_engine
from tests.e2e.conftest import api_process
from tests.e2e.test_authentication import _assertion, _public_pem, _token_request
from tests.support.net import free_port
from tests.support.processes import settings_env

pytestmark = [pytest.mark.kafka, pytest.mark.postgres]

PARTNER = "VCS-HOMESTART-SALFORD"
PARTNER_SECRET = "whsec_" + base64.b64encode(b"the partner's own thirty-two byte").decode()


def _database_with_password(postgres_url: str) -> tuple[str, str]:
    """A fresh database on the session's server, and its URL with a password in it (the
    server trusts local connections, so any password works: what matters is that it is there)."""
    name = f"hub_secrets_{uuid.uuid4().hex[:8]}"
    admin = create_engine(postgres_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f"CREATE DATABASE {name}"))
    admin.dispose()
    password = f"db-pw-{uuid.uuid4().hex}"
    url = make_url(postgres_url).set(database=name, password=password)
    return url.render_as_string(hide_password=False), password


def test_no_secret_in_any_log_line_or_error_body(
    make_settings: Callable[..., Settings], postgres_url: str, tmp_path: Path
) -> None:
    database_url, password = _database_with_password(postgres_url)
    settings = make_settings(
        api_port=free_port(),
        database_url=database_url,
        webhook_secrets={PARTNER: PARTNER_SECRET},
        log_level="DEBUG",
    )
    assert password not in repr(settings)
    assert password not in str(settings.model_dump())
    assert PARTNER_SECRET.removeprefix("whsec_") not in repr(settings)
    secrets = [password, PARTNER_SECRET.removeprefix("whsec_")]
    bodies: list[str] = []

    # `hub clients add` shows the API key once, on standard output, and logs nothing of it.
    added = subprocess.run(
        [
            sys.executable,
            "-m",
            "hub",
            "clients",
            "add",
            "--organisation",
            "R0A",
            "--role",
            "COMMUNITY_MIDWIFE",
            "--user",
            "mw-7",
        ],
        env={**settings_env(settings), "HUB_LOG_LEVEL": "DEBUG"},
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    key = added.stdout.split("API key:", 1)[1].split()[0]
    assert key not in added.stderr
    secrets.append(key)

    with api_process(settings, tmp_path) as base:
        url = f"{base}/practitioners/mw-7/alerts"
        assert httpx.get(url, headers={"Authorization": f"Bearer {key}"}).status_code == 200
        assert httpx.get(url, headers={"X-API-Key": key}).status_code == 200
        httpx.get(f"{url}?api_key={key}&access_token={key}")  # refused or not: never logged

        # A signed-JWT client and its access token, as a cookie too.
        private_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        engine = make_engine(database_url)
        client = (
            ClientStore(engine)
            .register(
                "R0A",
                "PARTNER_SYSTEM",
                "r0a-epr",
                public_key_pem=_public_pem(private_key),
                kid="k1",
            )
            .client
        )
        engine.dispose()
        assertion = _assertion(private_key, client.client_id, settings.resolved_token_url())
        granted = _token_request(base, assertion)
        assert granted.status_code == 200, granted.text
        token = granted.json()["access_token"]
        bodies.append(_token_request(base, assertion).text)  # a replayed assertion: refused
        secrets += [assertion, assertion.rsplit(".", 1)[1], token]
        own = f"{base}/practitioners/r0a-epr/alerts"
        assert httpx.get(own, headers={"Authorization": f"Bearer {token}"}).status_code == 200
        assert httpx.get(own, cookies={"hub_session": token}).status_code == 200

        # The web sign-in: a key in a form, a session cookie back; a wrong key is not echoed.
        signed_in = httpx.post(f"{base}/inbox/sign-in", data={"api_key": key})
        assert signed_in.status_code == 303
        session = signed_in.cookies["hub_session"]
        secrets.append(session)
        assert httpx.get(f"{base}/inbox", cookies={"hub_session": session}).status_code == 200
        wrong_key = key[:-4] + "wxyz"
        secrets.append(wrong_key)
        bodies.append(httpx.post(f"{base}/inbox/sign-in", data={"api_key": wrong_key}).text)
        for headers in ({"Authorization": f"Bearer {wrong_key}"}, {"X-API-Key": wrong_key}):
            refused = httpx.get(url, headers=headers)
            assert refused.status_code == 401
            bodies.append(refused.text)
        wrong_token = token[:-4] + "wxyz"
        secrets.append(wrong_token)
        bodies.append(httpx.get(url, cookies={"hub_session": wrong_token}).text)

        # A webhook subscription: its secret is in the answer, once, and nowhere else.
        created = httpx.post(
            f"{base}/subscriptions",
            json={"url": "http://127.0.0.1:9/hook"},
            headers={"Authorization": f"Bearer {key}"},
        )
        assert created.status_code == 201, created.text
        secrets.append(created.json()["secret"].removeprefix("whsec_"))
        listed = httpx.get(f"{base}/subscriptions", headers={"Authorization": f"Bearer {key}"})
        bodies.append(listed.text)

        # A partner's signed webhook, and one signed with a wrong secret.
        body = json.dumps({"type": "session_missed", "data": {"record_id": "LP-1"}})
        for secret in (PARTNER_SECRET, "whsec_" + base64.b64encode(b"x" * 32).decode()):
            message_id = f"msg_{uuid.uuid4().hex}"
            signature = Webhook(secret).sign(message_id, datetime.now(UTC), body)
            secrets.append(signature.split(",", 1)[1])
            answer = httpx.post(
                f"{base}/partners/{PARTNER}/webhooks",
                content=body,
                headers={
                    "webhook-id": message_id,
                    "webhook-timestamp": str(int(datetime.now(UTC).timestamp())),
                    "webhook-signature": signature,
                    "content-type": "application/json",
                },
            )
            assert answer.status_code in (401, 422), answer.text
            bodies.append(answer.text)

    log = (tmp_path / "api.log").read_text(errors="replace")
    assert "DEBUG" in log  # the level took effect (uvicorn and the hub's loggers)
    assert 'GET /practitioners/mw-7/alerts?<redacted> HTTP/1.1" 401' in log
    for secret in secrets:
        assert secret not in log, f"a secret is in the API's log: {secret[:6]}..."
        for sent in bodies:
            assert secret not in sent, f"a secret is in an error body: {sent[:200]}"
