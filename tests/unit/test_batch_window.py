"""The worker's take window (ADR 0053): as set, or the store's default when unset."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import SecretStr

from hub.settings import POSTGRESQL_BATCH_WITHIN_MS, SQLITE_BATCH_WITHIN_MS, Settings


@pytest.mark.parametrize(
    ("database_url", "within_ms", "expected_s"),
    [
        (None, None, SQLITE_BATCH_WITHIN_MS / 1000),  # the embedded SQLite file
        ("sqlite:////var/lib/hub/projections.sqlite3", None, SQLITE_BATCH_WITHIN_MS / 1000),
        ("postgresql+psycopg://hub@db/hub", None, POSTGRESQL_BATCH_WITHIN_MS / 1000),
        ("postgresql+psycopg://hub@db/hub", 35.0, 0.035),  # an operator's choice wins
        (None, 250.0, 0.25),
    ],
)
def test_the_window_is_the_operators_or_the_stores_default(
    tmp_path: Path, database_url: str | None, within_ms: float | None, expected_s: float
) -> None:
    settings = Settings(
        state_dir=tmp_path,
        database_url=SecretStr(database_url) if database_url else None,
        worker_batch_within_ms=within_ms,
    )
    assert settings.batch_within_s() == pytest.approx(expected_s)


def test_an_unset_window_reads_from_the_environment_as_unset(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HUB_DATABASE_URL", "postgresql+psycopg://hub@db/hub")
    assert Settings(state_dir=tmp_path).batch_within_s() == POSTGRESQL_BATCH_WITHIN_MS / 1000
    monkeypatch.setenv("HUB_WORKER_BATCH_WITHIN_MS", "20")
    assert Settings(state_dir=tmp_path).batch_within_s() == pytest.approx(0.02)
