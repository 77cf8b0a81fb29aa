"""``hub outcomes``: the synthetic year's files, and a bad date refused before anything runs."""

from __future__ import annotations

import csv
from pathlib import Path

from typer.testing import CliRunner

from hub.cli.main import app


def test_synthetic_writes_the_four_feeds(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        app, ["outcomes", "synthetic", "--out", str(tmp_path), "--families", "50"]
    )
    assert result.exit_code == 0, result.output
    assert "50 families" in result.output
    activity = list(csv.DictReader((tmp_path / "activity.csv").read_text().splitlines()))
    assert sum(row["event"] == "referral_received" for row in activity) == 50
    episodes = list(csv.DictReader((tmp_path / "episodes.csv").read_text().splitlines()))
    assert all(row["RNE"] == "S" for row in episodes)
    for name in ("clinic.csv", "births.csv"):
        assert (tmp_path / name).read_text().startswith("record_id,event,occurred_on")


def test_a_bad_date_is_refused_naming_it(tmp_path: Path) -> None:
    for command in (
        ["report", "--programme", "P", "--organisation", "355", "--user", "pm"],
        ["extract", "--evaluation", "e1", "--programme", "P", "--organisation", "EVAL-IPC",
         "--user", "u", "--out", str(tmp_path)],
    ):  # fmt: skip
        result = CliRunner().invoke(app, ["outcomes", *command, "--as-of", "31/11/2026"])
        assert result.exit_code == 2
        assert "is not a date" in result.output
