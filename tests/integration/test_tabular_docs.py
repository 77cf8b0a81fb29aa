"""docs/connectors.md's tabular example, run as written: the WCCIS report and its mapping are
taken from the doc's blocks, dry-run (the refusal printed is the doc's), then run into the real
broker twice (the second run publishes nothing), the refused row quarantined as it was sent;
and the Welsh LAC census form (.xlsx) run with the connector's example mapping."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from hub.payloads import PlanStarted
from hub.quarantine import QuarantineRecord
from hub.settings import Settings
from tests.support.processes import settings_env
from tests.support.topics import quarantine_read, read_case_events, read_topic

ROOT = Path(__file__).resolve().parents[2]
SECTION = (ROOT / "docs" / "connectors.md").read_text().split("## A table mapped", 1)[1]
SECTION = SECTION.split("\n## ", 1)[0]
HUB = str(Path(sys.executable).parent / "hub")
LAC_FORM = ROOT / "tests" / "golden" / "connectors" / "tabular" / "lac-census-episodes.input.xlsx"
LAC_MAPPING = ROOT / "hub" / "connectors" / "tabular" / "examples" / "lac-census-episodes.toml"


def block(kind: str) -> str:
    [found] = re.findall(rf"```{kind}\n(.*?)```", SECTION, flags=re.DOTALL)
    return str(found)


def steps() -> list[str]:
    # A `sh` block: the walk-through's `console` blocks are test_connector_docs.py's.
    return [line[2:] for line in block("sh").splitlines() if line.startswith("$ ")]


def hub(step: str, cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    args = step.split()
    assert args[0] == "hub"
    return subprocess.run(
        [HUB, *args[1:]], cwd=cwd, env=env, capture_output=True, text=True, timeout=240
    )


@pytest.fixture
def report(tmp_path: Path) -> Path:
    (tmp_path / "report.csv").write_text(block("csv"))
    (tmp_path / "report.toml").write_text(block("toml"))
    return tmp_path


def test_the_dry_run_prints_the_docs_refusal(report: Path) -> None:
    [dry_run, _] = steps()
    done = hub(dry_run, report, dict(os.environ))
    assert done.returncode == 1  # a row refused
    assert block("text").strip() in done.stderr
    assert "3 records: 2 mapped to 5 events, 1 refused" in done.stderr


@pytest.mark.kafka
def test_the_run_publishes_once_and_quarantines_the_refused_row(
    report: Path, make_settings: Callable[..., Settings]
) -> None:
    settings = make_settings()
    env = {**os.environ, **settings_env(settings)}
    [_, run] = steps()
    first = hub(run, report, env)
    assert first.returncode == 1, first.stderr  # exit 1: a row was refused (and quarantined)
    assert "3 records, 5 events published, 0 unchanged, 0 changed, 1 refused" in first.stdout
    again = hub(run, report, env)
    assert "3 records, 0 events published, 2 unchanged" in again.stdout, again.stdout
    events = read_case_events(settings, expect=5)
    assert sorted(e.event_type.value for e in events) == [
        "PLAN_ENDED",
        "PLAN_STARTED",
        "PLAN_STARTED",
        "PRACTITIONER_ASSIGNED",
        "PRACTITIONER_ASSIGNED",
    ]
    [registered] = [
        e for e in events if e.nhs_number() == "9434765919" and e.event_type == "PLAN_STARTED"
    ]
    assert isinstance(registered.payload, PlanStarted)
    assert registered.payload.local_name == "registration on the Child Protection Register"
    # Refused in each run (still wrong in the file), quarantined as sent each time.
    messages = read_topic(settings.bootstrap_servers(), settings.quarantine_topic, expect=2)
    assert len(messages) == 2
    for message in messages:
        record = quarantine_read(settings).decode(message.value() or b"")
        assert isinstance(record, QuarantineRecord)
        assert record.raw == block("csv").splitlines(keepends=True)[3].encode()
        assert [e.location for e in record.errors] == ["CPR Start Date", "CPR Category"]
        assert "report.csv:4" in record.reason


@pytest.mark.kafka
def test_the_lac_census_form_runs_with_the_example_mapping(
    tmp_path: Path, make_settings: Callable[..., Settings]
) -> None:
    settings = make_settings()
    env = {**os.environ, **settings_env(settings)}
    done = hub(f"hub connector run tabular {LAC_FORM} --config {LAC_MAPPING}", tmp_path, env)
    assert done.returncode == 0, done.stderr
    assert "6 records, 6 events published" in done.stdout
    events = read_case_events(settings, expect=6)
    assert {e.source.organisation_code for e in events} == {"W06000022"}
    assert {e.source_record_id for e in events} >= {"NPT-C1001|2025-05-04"}
