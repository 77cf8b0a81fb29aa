"""Shared fixtures: one real Kafka broker and one PostgreSQL server per test session (under
``pytest -n``, per worker: each worker is a session of its own, ADR 0038).

Kafka comes from ``tests/support/kafka.py``: ``KAFKA_BOOTSTRAP_SERVERS`` if set, testcontainers
when ``HUB_TEST_KAFKA=testcontainers``, else a broker this session starts from the Maven-fetched
jars. Each test gets fresh topic names, so tests never see each other's events.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from hypothesis import settings as hypothesis_settings

from hub.bootstrap import ProjectionStores, build_projection_stores
from hub.kafka.admin import ensure_topics
from hub.kafka.local import ensure_jars
from hub.settings import Settings, default_state_dir
from tests.support.kafka import kafka_cluster
from tests.support.postgres import temporary_postgres

# Speed is measured in benchmarks/, never by timing tests: no per-example deadlines.
hypothesis_settings.register_profile("hub", deadline=None)
hypothesis_settings.load_profile("hub")


def cache_dir() -> Path:
    return Path(os.environ.get("HUB_CACHE_DIR", str(default_state_dir())))


def pytest_sessionstart(session: pytest.Session) -> None:
    """Under ``pytest -n`` (``make test``, ADR 0038) each worker starts a broker of its own:
    fetch the broker jars once, in the controller, before the workers race to fetch them."""
    distributed = bool(getattr(session.config.option, "numprocesses", None))
    is_worker = hasattr(session.config, "workerinput")
    own_broker = not os.environ.get("KAFKA_BOOTSTRAP_SERVERS") and (
        os.environ.get("HUB_TEST_KAFKA") != "testcontainers"
    )
    if distributed and not is_worker and own_broker:
        ensure_jars(cache_dir() / "kafka-jars")


@pytest.fixture(scope="session")
def kafka_bootstrap(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with kafka_cluster(cache_dir(), tmp_path_factory.mktemp("kafka")) as servers:
        yield servers


@pytest.fixture(scope="session")
def postgres_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with temporary_postgres(tmp_path_factory.mktemp("postgres")) as url:
        yield url


def build_settings(kafka_bootstrap: str, **overrides: object) -> Settings:
    """Settings with unique topics and group, topics created: ``make_settings`` for fixtures
    wider than one test (a module's API process); give ``state_dir``."""
    suffix = uuid.uuid4().hex[:8]
    values: dict[str, object] = {
        "kafka_bootstrap_servers": kafka_bootstrap,
        "case_events_topic": f"test.case-events.{suffix}",
        "quarantine_topic": f"test.quarantine.{suffix}",
        "dead_letter_topic": f"test.dead-letter.{suffix}",
        "disclosures_topic": f"test.disclosures.{suffix}",
        "family_events_topic": f"test.family-events.{suffix}",
        "worker_group": f"test-projections-{suffix}",
        "topic_partitions": 2,
        # The tests' webhook receivers listen on 127.0.0.1, which production refuses.
        "subscription_allowed_networks": ["127.0.0.0/8"],
        **overrides,
    }
    settings = Settings.model_validate(values)
    ensure_topics(settings)
    return settings


@pytest.fixture
def make_settings(kafka_bootstrap: str, tmp_path: Path) -> Callable[..., Settings]:
    """Settings with unique topics and group for one test, topics created."""

    def build(**overrides: object) -> Settings:
        return build_settings(kafka_bootstrap, **{"state_dir": tmp_path, **overrides})

    return build


@pytest.fixture
def embedded_stores(tmp_path: Path) -> Iterator[ProjectionStores]:
    """The hub's projection stores as ``make run`` builds them (SQLite under ``tmp_path``, the
    composition root's wiring), their engines disposed afterwards."""
    stores = build_projection_stores(Settings(state_dir=tmp_path))
    yield stores
    stores.alerts.engine.dispose()
    stores.keys.engine.dispose()
