"""Registered clients, API keys, access tokens and spent assertion ids on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine, select

from hub.auth.store import ClientStore, TokenState, auth_metadata, clients_table, tokens_table
from hub.processes.demo import DEMO_CLIENT_ID, demo_reader
from hub.settings import Settings
from hub.storage.engine import make_engine

NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


@pytest.fixture
def clients(sql_engine: Engine) -> Iterator[ClientStore]:
    store = ClientStore(sql_engine)
    store.create_schema()
    yield store
    auth_metadata.drop_all(sql_engine)


def test_only_the_hash_of_an_api_key_is_stored(clients: ClientStore, sql_engine: Engine) -> None:
    registration = clients.register("R0A", "COMMUNITY_MIDWIFE", "mw-1")
    key = registration.api_key
    with sql_engine.connect() as connection:
        [row] = connection.execute(select(clients_table)).all()
    stored = [str(value) for value in row._mapping.values()]
    assert not any(key in value or value in key for value in stored if len(value) > 20)
    assert clients.authenticate_api_key(key) == registration.client
    assert registration.client.recipient().user_id == "mw-1"
    assert registration.client.has_api_key


def test_a_wrong_or_revoked_key_authenticates_nobody(clients: ClientStore) -> None:
    registration = clients.register("R0A", "COMMUNITY_MIDWIFE", "mw-1")
    key = registration.api_key
    other = clients.register("R0A", "COMMUNITY_MIDWIFE", "mw-2")
    assert clients.authenticate_api_key(key[:-2] + "xx") is None
    # Another client's secret under this client's id:
    client_part = f"hubk_{registration.client.client_id}_"
    assert clients.authenticate_api_key(client_part + other.api_key.split("_", 2)[2]) is None
    assert clients.revoke(registration.client.client_id, NOW)
    assert clients.authenticate_api_key(key) is None
    assert clients.authenticate_api_key(other.api_key) is not None
    assert not clients.revoke("0000000000000000")
    revoked = clients.get(registration.client.client_id)
    assert revoked is not None
    assert revoked.revoked_at == NOW


def test_registration_refuses_unknown_roles_and_incomplete_keys(clients: ClientStore) -> None:
    with pytest.raises(ValueError, match="unknown role"):
        clients.register("R0A", "MIDWIFE", "mw-1")
    with pytest.raises(ValueError, match="kid"):
        clients.register("R0A", "PARTNER_SYSTEM", "pas", kid="k1")
    with pytest.raises(ValueError, match="not a PEM"):
        clients.register("R0A", "PARTNER_SYSTEM", "pas", public_key_pem="nope", kid="k1")
    clients.register("R0A", "PARTNER_SYSTEM", "pas", client_id="pas-1")
    with pytest.raises(ValueError, match="already registered"):
        clients.register("R0A", "PARTNER_SYSTEM", "pas", client_id="pas-1")
    assert [client.client_id for client in clients.clients()] == ["pas-1"]


def test_access_tokens_expire_and_die_with_their_client(
    clients: ClientStore, sql_engine: Engine
) -> None:
    client = clients.register("R0A", "PARTNER_SYSTEM", "pas").client
    token, expires_at = clients.issue_access_token(client.client_id, timedelta(minutes=10), NOW)
    assert expires_at == NOW + timedelta(minutes=10)
    with sql_engine.connect() as connection:
        stored = connection.execute(select(tokens_table.c.token_hash)).scalars().all()
    assert token not in stored
    valid = clients.authenticate_access_token(token, NOW + timedelta(minutes=9))
    assert valid.state is TokenState.VALID
    assert valid.client == client
    expired = clients.authenticate_access_token(token, NOW + timedelta(minutes=10))
    assert expired.state is TokenState.EXPIRED
    assert expired.expired_at == expires_at
    assert clients.authenticate_access_token("hubt_nope", NOW).state is TokenState.UNKNOWN
    signed_out, _ = clients.issue_access_token(client.client_id, timedelta(minutes=10), NOW)
    clients.revoke_access_token(signed_out)
    assert clients.authenticate_access_token(signed_out, NOW).state is TokenState.UNKNOWN
    clients.revoke(client.client_id, NOW)
    assert clients.authenticate_access_token(token, NOW).state is TokenState.UNKNOWN
    with pytest.raises(LookupError):
        clients.issue_access_token(client.client_id, timedelta(minutes=10), NOW)


def test_an_assertion_id_is_spent_once_until_it_expires(clients: ClientStore) -> None:
    expires = NOW + timedelta(minutes=5)
    assert clients.spend_jti("pas-1", "jti-1", expires, NOW)
    assert not clients.spend_jti("pas-1", "jti-1", expires, NOW + timedelta(minutes=1))
    assert clients.spend_jti("pas-2", "jti-1", expires, NOW)  # per client
    # Forgotten once the assertion itself has expired (its exp refuses it from then on):
    assert clients.spend_jti("pas-1", "jti-1", expires + timedelta(minutes=5), expires)


def test_a_replaced_key_stops_the_old_one(clients: ClientStore) -> None:
    registration = clients.register("R0A", "COMMUNITY_MIDWIFE", "mw-1")
    new_key = clients.replace_api_key(registration.client.client_id)
    assert clients.authenticate_api_key(registration.api_key) is None
    assert clients.authenticate_api_key(new_key) == registration.client


def test_the_demo_midwife_gets_a_new_working_key_each_run(tmp_path: Path) -> None:
    settings = Settings.model_validate({"state_dir": tmp_path})
    first = demo_reader(settings)
    second = demo_reader(settings)
    assert first != second
    engine = make_engine(settings.resolved_database_url())
    try:
        clients = ClientStore(engine)
        key = second["Authorization"].removeprefix("Bearer ")
        client = clients.authenticate_api_key(key)
        assert client is not None
        assert client.client_id == DEMO_CLIENT_ID
        assert clients.authenticate_api_key(first["Authorization"].removeprefix("Bearer ")) is None
    finally:
        engine.dispose()


def test_hub_clients_add_list_revoke(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa
    from typer.testing import CliRunner

    from hub.cli.main import app

    monkeypatch.setenv("HUB_STATE_DIR", str(tmp_path))
    monkeypatch.delenv("HUB_DATABASE_URL", raising=False)
    pem = tmp_path / "epr.pub.pem"
    pem.write_bytes(
        rsa.generate_private_key(public_exponent=65537, key_size=2048)
        .public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    runner = CliRunner()
    added = runner.invoke(
        app,
        [
            "clients",
            "add",
            "--organisation",
            "R0A",
            "--role",
            "COMMUNITY_MIDWIFE",
            "--user",
            "mw-1",
        ],
    )
    assert added.exit_code == 0, added.output
    client_id = added.output.split("client id:")[1].split()[0]
    key = added.output.split("API key:")[1].split()[0]
    system = runner.invoke(
        app,
        [
            *("clients", "add", "--organisation", "R0A", "--role", "PARTNER_SYSTEM"),
            *("--user", "epr", "--public-key", str(pem), "--kid", "epr-1"),
        ],
    )
    assert system.exit_code == 0, system.output
    wrong = runner.invoke(
        app, ["clients", "add", "--organisation", "R0A", "--role", "MIDWIFE", "--user", "x"]
    )
    assert wrong.exit_code == 2
    assert "unknown role 'MIDWIFE'" in wrong.output
    # An organisation outside the agreement: the hub would refuse to start with it registered.
    for code in ("HOMESTART-MCR", "RX1", "r0a"):
        outside = runner.invoke(
            app, ["clients", "add", "--organisation", code, "--role", "KEY_WORKER", "--user", "x"]
        )
        assert outside.exit_code == 2
        assert f"organisation {code!r} is not a party to the agreement" in outside.output

    engine = make_engine(Settings().resolved_database_url())
    try:
        clients = ClientStore(engine)
        client = clients.authenticate_api_key(key)
        assert client is not None
        assert client.client_id == client_id
        listed = runner.invoke(app, ["clients", "list"])
        assert client_id in listed.output
        assert "kid=epr-1" in listed.output
        assert key not in listed.output
        assert runner.invoke(app, ["clients", "revoke", client_id]).exit_code == 0
        assert clients.authenticate_api_key(key) is None
        assert "revoked" in runner.invoke(app, ["clients", "list"]).output
        assert runner.invoke(app, ["clients", "revoke", "0000000000000000"]).exit_code == 1
    finally:
        engine.dispose()
