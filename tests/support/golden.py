"""Golden-file comparison shared by every mapping's golden test."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from hub.connectors.sources import DEFAULT_SOURCES_DIR, load_sources

# The sources the golden messages come from: config/sources, the Welsh demo health board
# (config/sources/wales, a folder of its own beside the Salford demo's), and the public
# samples' senders, which are no party to the demo agreement and so are not configured in
# config/sources.
WELSH_SOURCES_DIR = DEFAULT_SOURCES_DIR / "wales"
GOLDEN_SOURCES = load_sources(
    DEFAULT_SOURCES_DIR,
    WELSH_SOURCES_DIR,
    Path(__file__).resolve().parents[1] / "golden" / "hl7v2" / "sources",
)


def check_golden(case: Path, actual: Any, input_suffix: str) -> None:
    """Compare with ``<name>.expected.json`` beside the input; HUB_UPDATE_GOLDEN=1 rewrites it."""
    expected_path = case.with_name(case.name.replace(input_suffix, ".expected.json"))
    normalised = json.loads(json.dumps(actual))
    if os.environ.get("HUB_UPDATE_GOLDEN") == "1":
        expected_path.write_text(json.dumps(normalised, indent=2, ensure_ascii=False) + "\n")
    assert expected_path.exists(), (
        f"no golden file {expected_path.name}; run with HUB_UPDATE_GOLDEN=1"
    )
    assert normalised == json.loads(expected_path.read_text())
