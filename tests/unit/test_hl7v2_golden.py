"""Golden files: HL7 v2 message in, acknowledgement code and case-events (or problems) out,
through the HL7 v2 connector (the conformance suite checks it too: test_connector_conformance).

Inputs: ``tests/golden/hl7v2/*.input.hl7`` — public samples (``public-*``, see
``tests/data/SOURCES.md``) and our own realistic messages. Regenerate after a deliberate
mapping change with ``HUB_UPDATE_GOLDEN=1 pytest tests/unit`` and review the diff.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from hub.connectors.hl7v2.connector import HL7V2, hl7_refusal
from hub.connectors.hl7v2.mapping import TRIGGERS
from hub.connectors.hl7v2.reading import parse
from hub.connectors.messages import translate_message
from hub.connectors.outcomes import Mapped
from hub.connectors.sources import load_sources
from tests.support.golden import GOLDEN_SOURCES, check_golden

GOLDEN = Path(__file__).resolve().parents[1] / "golden" / "hl7v2"
RECORDED_AT = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)
CASES = sorted(GOLDEN.glob("*.input.hl7"))
SOURCES = GOLDEN_SOURCES


def translate_file(raw: bytes) -> dict[str, Any]:
    outcome = translate_message(HL7V2, raw, SOURCES, RECORDED_AT, location="golden").outcome
    if isinstance(outcome, Mapped):
        return {"ack": "AA", "events": [e.model_dump(mode="json") for e in outcome.events]}
    refusal = hl7_refusal(outcome)
    if refusal.unreadable:
        return {"ack": "AR", "unreadable": refusal.problems[0].message}
    return {
        "ack": refusal.code,
        "problems": [
            {"location": p.location, "code": p.code, "message": p.message} for p in refusal.problems
        ],
    }


@pytest.mark.parametrize("case", CASES, ids=lambda p: p.name.removesuffix(".input.hl7"))
def test_golden(case: Path) -> None:
    check_golden(case, translate_file(case.read_bytes()), ".input.hl7")


def test_every_message_type_the_hub_takes_has_an_accepted_golden_case() -> None:
    seen = set()
    for case in CASES:
        raw = case.read_bytes()
        if translate_file(raw)["ack"] == "AA":
            msh = parse(raw).segment("MSH")
            seen.add((str(msh(9)(1)(1)), str(msh(9)(1)(2))))
    assert set(TRIGGERS) <= seen, set(TRIGGERS) - seen


def test_a_source_file_with_an_unknown_time_zone_is_refused_naming_file_and_field(
    tmp_path: Path,
) -> None:
    (tmp_path / "trust.toml").write_text(
        'system = "pas"\norganisation_code = "R0A"\nsending_facilities = ["PAS"]\n'
        'timezone = "Europe/Lundun"\n'
    )
    with pytest.raises(
        ValueError, match=r"(?s)trust\.toml.*timezone.*'Europe/Lundun' is not a known"
    ):
        load_sources(tmp_path)
