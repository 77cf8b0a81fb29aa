"""The tabular connector: reading and mapping rows from a TOML mapping, against the coded
SSDA903 connector mapping the same rows to the same facts, in the same run; and the same rows
read from an ``.xlsx`` workbook against CSV.

``python -m benchmarks tabular`` (``HUB_BENCH_TABULAR_ROWS``, default 20,000). Pure CPU: no
broker, no database (the runtime around both is the same, ``benchmarks/extract.py``). The rows
are ``benchmarks/extract.py``'s synthetic episodes.
"""

from __future__ import annotations

import csv
import os
import tempfile
from pathlib import Path
from typing import Any

from openpyxl import Workbook

from benchmarks.extract import write_extract
from benchmarks.harness import rate, report
from hub.connectors.csc.ssda903 import SSDA903Episodes
from hub.connectors.outcomes import Mapped, translate
from hub.connectors.sdk import Connector, ConnectorConfig
from hub.connectors.tabular.connector import TabularConnector
from hub.events import utc_now

# The SSDA903 connector's mapping, written as configuration.
PLAN = {"plan_id": {"template": "{CHILD}:LAC"}, "plan_type": {"value": "LOOKED_AFTER"}}
MAPPING: dict[str, Any] = {
    "system": "council-lac",
    "organisation_code": "E08000003",
    "input": {"key": ["CHILD", "DECOM"]},
    "subject": {"id_column": "CHILD"},
    "codes": {"rne": {code: code for code in ("S", "L", "P", "T", "U", "B")}},
    "checks": {"RNE": "rne"},
    "events": [
        {
            "type": "PLAN_STARTED",
            "when": [{"column": "RNE", "in": ["S"]}],
            "occurred": "DECOM",
            "category": "SOCIAL_CARE_PLANS",
            "sensitivity": "RESTRICTED",
            "fields": {**PLAN, "started_on": {"column": "DECOM"}, "category": {"column": "LS"}},
        },
        {
            "type": "PLAN_ENDED",
            "when": [{"column": "DEC", "present": True}, {"column": "REC", "not_in": ["X1"]}],
            "occurred": "DEC",
            "category": "SOCIAL_CARE_PLANS",
            "sensitivity": "RESTRICTED",
            "fields": {**PLAN, "ended_on": {"column": "DEC"}, "reason": {"column": "REC"}},
        },
    ],
}


def _mapped(connector: Connector[Any], config: ConnectorConfig, path: Path) -> int:
    events = 0
    with path.open("rb") as stream:
        for outcome in translate(
            connector, config, connector.read_with(stream, path.name, config), utc_now()
        ):
            assert isinstance(outcome, Mapped)
            events += len(outcome.events)
    return events


def _read(connector: Connector[Any], config: ConnectorConfig, path: Path) -> int:
    with path.open("rb") as stream:
        return sum(1 for _ in connector.read_with(stream, path.name, config))


def _as_workbook(source: Path, target: Path) -> None:
    """The rows as Excel saves them (a shared-strings table; openpyxl's write-only mode writes
    inline strings instead, which read several times slower and no council's file has)."""
    workbook = Workbook()
    sheet = workbook.active
    assert sheet is not None
    with source.open(newline="") as rows:
        for row in csv.reader(rows):
            sheet.append(row)
    workbook.save(target)


def run() -> None:
    rows = int(os.environ.get("HUB_BENCH_TABULAR_ROWS", "20000"))
    coded, configured = SSDA903Episodes(), TabularConnector()
    coded_config = coded.config(coded.example_config)
    mapping = configured.config(MAPPING)
    with tempfile.TemporaryDirectory() as scratch:
        extract = Path(scratch) / "episodes.csv"
        write_extract(extract, rows)
        workbook = Path(scratch) / "episodes.xlsx"
        _as_workbook(extract, workbook)
        assert _mapped(coded, coded_config, extract) == _mapped(configured, mapping, extract)
        print(f"tabular: {rows:,} SSDA903-shaped rows, read + mapped, one core", flush=True)
        baseline = rate(lambda: _mapped(coded, coded_config, extract) and rows)
        measured = rate(lambda: _mapped(configured, mapping, extract) and rows)
        report("tabular (TOML mapping), CSV rows", measured, "ssda903 (coded)", baseline)
        csv_read = rate(lambda: _read(configured, mapping, extract))
        xlsx_read = rate(lambda: _read(configured, mapping, workbook), repeats=1)
        report("tabular, .xlsx rows read (openpyxl read-only)", xlsx_read, "CSV rows", csv_read)
