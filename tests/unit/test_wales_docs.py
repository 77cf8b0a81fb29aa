"""docs/wales.md says what the code does: its table of citations is the hub's table, its
export example is what ``hub agreement export`` prints and writes for the demo agreement."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest
from typer.testing import CliRunner

from hub.cli.main import app
from hub.sharing.agreement import load_agreement
from hub.sharing.isp_tables import TableFormat, documented_flows, partner_table, render
from hub.sharing.legislation import CITATIONS

DOC = (Path(__file__).resolve().parents[2] / "docs" / "wales.md").read_text()


def test_the_citation_table_is_the_hubs() -> None:
    rows = re.findall(r"^\| `([a-z0-9-]+)` \| (.+?) \| (.+?) \| (verified|assumed) \|$", DOC, re.M)
    documented = {code: (title, nations, extent) for code, title, nations, extent in rows}
    expected = {
        c.code: (
            c.title,
            " and ".join(sorted(n.title() for n in c.applies_in)),
            "verified" if c.verified else "assumed",
        )
        for c in CITATIONS.values()
    }
    assert documented == expected


def test_the_partner_table_is_what_the_export_writes() -> None:
    agreement = load_agreement()
    flows = documented_flows(agreement, "Baby and Me Newport: pre-birth support ISP")
    assert render(partner_table(agreement, flows), TableFormat.MARKDOWN) in DOC


def test_the_export_example_runs_as_documented(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    [block] = [b for b in re.findall(r"```console\n(.*?)```", DOC, re.S) if "export" in b]
    command, *printed = block.strip().splitlines()
    argv = shlex.split(command.removeprefix("$ "))
    assert argv[:3] == ["hub", "agreement", "export"]
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("HUB_AGREEMENT_PATH", raising=False)
    result = CliRunner().invoke(app, argv[1:])
    assert result.exit_code == 0, result.output
    assert result.output.splitlines() == printed
    for line in printed:
        assert (tmp_path / line.split()[1]).is_file()
