"""``hub schemas check``: the compatibility rule, and finding the previous committed version."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from hub.cli.main import app
from hub.kafka.codec import load_schema
from hub.kafka.schema_check import backward_problems, check_directory


def _with_field(schema: dict[str, Any], field: dict[str, Any]) -> str:
    changed = json.loads(json.dumps(schema))
    changed["fields"].append(field)
    return json.dumps(changed)


CURRENT = load_schema("case_event")


def test_adding_an_optional_field_is_backward_compatible() -> None:
    new = _with_field(CURRENT, {"name": "note", "type": ["null", "string"], "default": None})
    assert backward_problems(json.dumps(CURRENT), new) == []


def test_adding_a_required_field_breaks_old_data() -> None:
    new = _with_field(CURRENT, {"name": "note", "type": "string"})
    problems = backward_problems(json.dumps(CURRENT), new)
    assert problems
    assert "reader_field_missing_default_value" in problems[0]


def test_removing_an_enum_symbol_breaks_old_data() -> None:
    changed = json.loads(json.dumps(CURRENT))
    changed["fields"][1]["type"]["symbols"].remove("APPOINTMENT_MISSED")
    assert backward_problems(json.dumps(CURRENT), json.dumps(changed))


def test_a_schema_that_does_not_parse_is_reported() -> None:
    assert backward_problems(json.dumps(CURRENT), '{"type": "record"}')


def _git(repo: Path, *args: str) -> None:
    subprocess.run(["git", "-C", str(repo), *args], check=True, capture_output=True)


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    _git(tmp_path, "init", "-q")
    _git(tmp_path, "config", "user.email", "test@example.org")
    _git(tmp_path, "config", "user.name", "test")
    (tmp_path / "s.avsc").write_text(json.dumps(CURRENT))
    _git(tmp_path, "add", "s.avsc")
    _git(tmp_path, "commit", "-q", "-m", "first")
    return tmp_path


def test_an_uncommitted_breaking_edit_fails_the_cli(repo: Path) -> None:
    (repo / "s.avsc").write_text(_with_field(CURRENT, {"name": "x", "type": "string"}))
    result = CliRunner().invoke(app, ["schemas", "check", "--schema-dir", str(repo)])
    assert result.exit_code == 1
    assert "BREAKS  s.avsc (against HEAD)" in result.output


def test_a_committed_breaking_change_is_caught_on_a_clean_checkout(repo: Path) -> None:
    (repo / "s.avsc").write_text(_with_field(CURRENT, {"name": "x", "type": "string"}))
    _git(repo, "commit", "-q", "-am", "break it")
    [report] = check_directory(repo)
    assert report.compared_with is not None
    assert report.compared_with.endswith("^")
    assert not report.ok


def test_a_compatible_committed_change_passes(repo: Path) -> None:
    new = _with_field(CURRENT, {"name": "x", "type": ["null", "string"], "default": None})
    (repo / "s.avsc").write_text(new)
    _git(repo, "commit", "-q", "-am", "extend it")
    result = CliRunner().invoke(app, ["schemas", "check", "--schema-dir", str(repo)])
    assert result.exit_code == 0, result.output
    assert "backward compatible with" in result.output
