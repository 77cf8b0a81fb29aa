"""The hazard log names the tests that guard each control: those tests must exist."""

from __future__ import annotations

import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
LOG = REPO / "docs" / "clinical-safety" / "hazard-log.md"
REFERENCE = re.compile(r"`(tests/[\w/]+\.py)(?:::(\w+))?")


def test_every_test_the_hazard_log_names_exists() -> None:
    text = LOG.read_text(encoding="utf-8")
    references = REFERENCE.findall(text)
    assert len(references) >= 15
    shorthand = re.findall(r"`::(\w+)`", text)  # "::name" continues the file named before it
    missing = []
    for path, name in references:
        source = REPO / path
        if not source.is_file():
            missing.append(path)
        elif name and not re.search(rf"^def {name}\b", source.read_text(), re.M):
            missing.append(f"{path}::{name}")
    every_test = "\n".join(p.read_text() for p in (REPO / "tests").rglob("test_*.py"))
    missing += [name for name in shorthand if f"def {name}(" not in every_test]
    assert missing == []


def test_every_hazard_has_a_residual_risk_and_a_status() -> None:
    rows = [line for line in LOG.read_text(encoding="utf-8").splitlines() if line.startswith("| H")]
    assert [row.split("|")[1].strip() for row in rows] == [f"H{i}" for i in range(1, 11)]
    for row in rows:
        cells = [cell.strip() for cell in row.strip("|").split("|")]
        assert len(cells) == 8, row[:40]  # id, hazard, causes, effect, initial, controls, ...
        assert re.fullmatch(r"\d\u00d7\d = \d+", cells[6]), cells[0]  # residual risk
        assert cells[7], cells[0]  # status
