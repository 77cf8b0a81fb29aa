"""The pure decisions of ``hub replay``: when the rebuild has caught up, when it may swap."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from hub.cli.main import app
from hub.projections.generations import behind, generation_metadata
from hub.projections.replay import ReplayError, needed, reached, replayable

T = "family"


def test_the_rebuild_may_swap_only_when_it_has_everything_the_live_one_applied() -> None:
    live = {(T, 0): 10, (T, 1): 4}
    assert behind(live, {(T, 0): 10, (T, 1): 4}) == []
    assert behind(live, {(T, 0): 12, (T, 1): 4}) == []  # ahead: the worker will skip those
    assert behind(live, {(T, 0): 9, (T, 1): 4}) == [(T, 0)]
    assert behind(live, {(T, 0): 10}) == [(T, 1)]  # a partition the rebuild never reached
    assert behind({}, {(T, 0): 3}) == []


def test_the_rebuild_reads_to_the_start_watermark_or_the_live_position_if_further() -> None:
    start = {0: 10, 1: 0, 2: 5}
    target = needed(start, {(T, 0): 7, (T, 2): 8, ("other-topic", 1): 99}, T)
    assert target == {0: 10, 1: 0, 2: 8}
    assert reached({0: 10, 1: 0, 2: 8}, target)
    assert not reached({0: 10, 2: 7}, target)


def test_each_generation_names_its_indexes_afresh() -> None:
    first, second = generation_metadata(), generation_metadata()
    assert first.naming_convention["ix"] != second.naming_convention["ix"]


def test_an_unknown_projection_is_refused_with_the_known_ones() -> None:
    with pytest.raises(
        ReplayError, match="known projections: missed_appointment_alerts, outcomes, team"
    ):
        replayable("alerts")


def test_the_command_refuses_an_unknown_projection_before_connecting() -> None:
    result = CliRunner().invoke(
        app, ["replay", "nope", "--yes"], env={"KAFKA_BOOTSTRAP_SERVERS": "127.0.0.1:1"}
    )
    assert result.exit_code == 2
    assert "unknown projection 'nope'" in result.output


def test_the_command_says_when_the_broker_is_unreachable(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        app,
        ["replay", "team_around_the_family", "--yes"],
        env={"KAFKA_BOOTSTRAP_SERVERS": "127.0.0.1:1", "HUB_STATE_DIR": str(tmp_path)},
    )
    assert result.exit_code == 1
    assert "cannot reach Kafka at 127.0.0.1:1" in result.output
