"""Fixtures for end-to-end tests: the API and the worker as real processes."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

from hub.auth.credentials import new_api_key, new_client_id
from hub.auth.store import ClientStore
from hub.erasure.keystore import open_key_store
from hub.settings import Settings
from hub.sharing.agreement import load_agreement
from hub.storage.engine import make_engine
from tests.support.net import free_port, listening
from tests.support.processes import eventually, hub_process

# Every reader a test names, with the API key it authenticates with: (user, organisation,
# role) -> (client id, API key). Made once per session; registered in each database an API
# under test reads (see ``api_process``), so ``reader()`` works at module level too.
_READERS: dict[tuple[str, str, str], tuple[str, str]] = {}
_OUTSIDERS: dict[tuple[str, str, str], tuple[str, str]] = {}  # see in_process_outsider
_LIVE_DATABASES: list[str] = []
# A hub refuses to start with a client of any other organisation registered (hub/sharing/
# parties.py), so ``reader`` registers only these; ``outsider`` registers one in a running hub.
_PARTIES = frozenset(load_agreement().organisations)


def register_readers(database_url: str, *, outsiders: bool = False) -> None:
    """Register every reader named so far in this database (idempotent); with ``outsiders``,
    the :func:`in_process_outsider` ones too (only for an app built in the test's process)."""
    engine = make_engine(database_url)
    try:
        store = ClientStore(engine)
        named = {**_READERS, **_OUTSIDERS} if outsiders else _READERS
        for (user, organisation, role), (client_id, key) in named.items():
            if store.get(client_id) is None:
                store.register(organisation, role, user, client_id=client_id, api_key=key)
    finally:
        engine.dispose()


def sender(organisation: str = "R0A") -> dict[str, str]:
    """The ``Authorization`` header of an organisation's system (FHIR writes, uploads)."""
    return reader(f"{organisation.lower()}-system", organisation, "PARTNER_SYSTEM")


def reader(
    user: str = "mw-1", organisation: str = "R0A", role: str = "COMMUNITY_MIDWIFE"
) -> dict[str, str]:
    """The ``Authorization`` header of a registered client with this user, organisation, role.

    The client is registered (through :class:`hub.auth.store.ClientStore`) in the database of
    every API ``api_process`` runs, whether it started before or after this call.
    """
    if organisation not in _PARTIES:
        raise ValueError(
            f"{organisation} is no party to the agreement: a hub with its client registered "
            "refuses to start; register it in a running hub with outsider()"
        )
    identity = (user, organisation, role)
    if identity not in _READERS:
        client_id = new_client_id()
        _READERS[identity] = (client_id, new_api_key(client_id))
        for url in _LIVE_DATABASES:
            register_readers(url)
    return {"Authorization": f"Bearer {_READERS[identity][1]}"}


def in_process_outsider(user: str, organisation: str, role: str) -> dict[str, str]:
    """The ``Authorization`` header of a client of ``organisation``, no party to the agreement,
    for an app built in the test's process (``create_api`` does not run the start-up check that
    ``hub api`` does), registered by ``register_readers(url, outsiders=True)``."""
    identity = (user, organisation, role)
    if identity not in _OUTSIDERS:
        client_id = new_client_id()
        _OUTSIDERS[identity] = (client_id, new_api_key(client_id))
    return {"Authorization": f"Bearer {_OUTSIDERS[identity][1]}"}


def outsider(settings: Settings, user: str, organisation: str, role: str) -> dict[str, str]:
    """The ``Authorization`` header of a client of ``organisation``, no party to the agreement,
    registered in the database of a hub already running (the one way such a client exists)."""
    engine = make_engine(settings.resolved_database_url())
    try:
        key = ClientStore(engine).register(organisation, role, user).api_key
    finally:
        engine.dispose()
    return {"Authorization": f"Bearer {key}"}


def status_of(url: str) -> int:
    try:
        return httpx.get(url, timeout=10).status_code
    except httpx.HTTPError:
        return 0


@contextmanager
def api_process(settings: Settings, log_dir: Path) -> Iterator[str]:
    """The API as a real process, once it answers; yields its base URL."""
    base = f"http://127.0.0.1:{settings.api_port}"
    database = settings.resolved_database_url()
    register_readers(database)
    _LIVE_DATABASES.append(database)
    try:
        with hub_process("api", settings, log_dir):
            eventually(
                lambda: status_of(f"{base}/openapi.json") == 200,
                timeout_s=60,
                what="the API answering",
                log=log_dir / "api.log",
            )
            yield base
    finally:
        _LIVE_DATABASES.remove(database)


@pytest.fixture
def hub(make_settings: Callable[..., Settings], tmp_path: Path) -> Iterator[tuple[Settings, str]]:
    settings = make_settings(api_port=free_port())
    with api_process(settings, tmp_path) as base:
        # The API is up but no worker consumes yet: /health must say so.
        assert status_of(f"{base}/health") == 503
        with hub_process("worker", settings, tmp_path):
            yield settings, base


def worker_ready_with_midwife(settings: Settings, base: str, log: Path) -> None:
    """Wait for /health, then record the mother's midwife as the maternity system would."""
    from hub.ingest.sink import CaseEventSink
    from hub.kafka.publisher import KafkaPublisher
    from tests.builders import assigned

    eventually(
        lambda: status_of(f"{base}/health") == 200, timeout_s=90, what="/health 200", log=log
    )
    publisher = KafkaPublisher(settings.bootstrap_servers())
    try:
        CaseEventSink(publisher, settings, open_key_store(settings)).publish_sync(assigned("mw-1"))
    finally:
        publisher.close()


@pytest.fixture
def running_hub(
    make_settings: Callable[..., Settings], tmp_path: Path
) -> Iterator[tuple[Settings, str]]:
    """The API, the worker and the MLLP listener as real processes, once all answer."""
    settings = make_settings(api_port=free_port(), mllp_port=free_port())
    with (
        api_process(settings, tmp_path) as base,
        hub_process("worker", settings, tmp_path),
        hub_process("mllp", settings, tmp_path),
    ):
        log = tmp_path / "worker.log"
        eventually(
            lambda: status_of(f"{base}/health") == 200, timeout_s=90, what="/health", log=log
        )
        eventually(lambda: listening(settings.mllp_port), timeout_s=60, what="MLLP", log=log)
        yield settings, base
