"""Golden files for every built-in connector: input file in, events and refusals out.

Inputs are ``tests/golden/connectors/<connector>/*.input.<ext>`` (public samples of the national
returns where they exist — see ``tests/data/SOURCES.md`` — and our own for the error cases).
Regenerate after a deliberate mapping change with ``HUB_UPDATE_GOLDEN=1 pytest tests/unit``.
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

import pytest

from hub.connectors.discovery import discover, load_connector
from hub.connectors.runtime import golden_output
from hub.connectors.sdk import InputError
from tests.support.golden import check_golden

GOLDEN = Path(__file__).resolve().parents[1] / "golden" / "connectors"
CASES = sorted(GOLDEN.glob("*/*.input.*"))


def run(case: Path) -> Any:
    """A case's output with the connector's example configuration, or with the configuration
    beside it whose name begins the case's (``crcs-census.config.toml`` for
    ``crcs-census-bad-rows.input.csv``: the tabular connector's mappings)."""
    connector = load_connector(case.parent.name)
    configs = [p for p in case.parent.glob("*.config.toml") if case.name.startswith(p.name[:-12])]
    beside = max(configs, key=lambda p: len(p.name), default=None)
    values = tomllib.loads(beside.read_text("utf-8")) if beside else connector.example_config
    return golden_output(connector, connector.config(values), case)


@pytest.mark.parametrize("case", CASES, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_golden(case: Path) -> None:
    check_golden(case, run(case), ".input" + case.suffix)


def test_every_built_in_connector_has_golden_cases() -> None:
    assert {case.parent.name for case in CASES} >= set(discover())


@pytest.mark.parametrize(
    ("connector", "content", "message"),
    [
        ("ssda903-episodes", b"", "empty file"),
        ("ssda903-episodes", b"CHILD,DECOM\n1,01/01/2024\n", "missing column(s) RNE, LS, DEC"),
        ("cin-census", b"<Message><Children><Child>", "not well-formed XML"),
        ("voluntary-activity", b"\xff\xfe\x00bad", "not a readable CSV file"),
    ],
)
def test_unusable_input_is_refused_as_a_whole(
    tmp_path: Path, connector: str, content: bytes, message: str
) -> None:
    case = tmp_path / connector / "input.dat"  # run() finds the connector by the folder
    case.parent.mkdir()
    case.write_bytes(content)
    assert message in run(case)["input_error"]


def test_an_unknown_time_zone_is_a_config_error_naming_the_field() -> None:
    connector = load_connector("ssda903-episodes")
    with pytest.raises(InputError, match=r"timezone\n.*'Mars/Olympus' is not a known time zone"):
        connector.config({**connector.example_config, "timezone": "Mars/Olympus"})
