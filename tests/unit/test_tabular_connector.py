"""The tabular connector: a mapping is checked whole when loaded, a table without a column the
mapping reads is refused whole, each row's problems are named by column, and the Welsh census
mappings keep their names and classify the parenting-capacity factors as the policy needs.
(What the golden forms map to is pinned in tests/golden/connectors/tabular.)"""

from __future__ import annotations

import io
import os
import tomllib
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from hub.connectors.outcomes import Mapped, Refused, translate
from hub.connectors.sdk import InputError
from hub.connectors.tabular.connector import TabularConnector
from hub.connectors.tabular.mapping import TabularConfig
from hub.events import EventType
from hub.jurisdictions import PARENTING_CAPACITY_FACTORS, SSWBA
from hub.payloads import AssessmentCompleted, PlanStarted
from hub.vocabulary import Jurisdiction
from tests.support.census_forms import (
    LAC_BAD_ROWS,
    LAC_EPISODES,
    read_rows,
    write_lac_episodes,
)

GOLDEN = Path(__file__).resolve().parents[1] / "golden" / "connectors" / "tabular"
CONNECTOR = TabularConnector()
AT = datetime(2026, 4, 1, tzinfo=UTC)
CRCS = tomllib.loads((GOLDEN / "crcs-census.config.toml").read_text("utf-8"))

MINIMAL: dict[str, Any] = {
    "system": "council-report",
    "organisation_code": "W06000022",
    "input": {"key": ["Child ID", "Start"]},
    "subject": {"id_column": "Child ID"},
    "codes": {"cpr": {"N": "neglect"}},
    "events": [
        {
            "type": "PLAN_STARTED",
            "occurred": "Start",
            "category": "SAFEGUARDING",
            "sensitivity": "RESTRICTED",
            "fields": {
                "plan_id": {"template": "{Child ID}:register:{Start}"},
                "plan_type": {"value": "CHILD_PROTECTION"},
                "started_on": {"column": "Start"},
                "category": {"column": "Category", "codes": "cpr", "required": False},
                "jurisdiction": {"value": "WALES"},
            },
        }
    ],
}


def mapping(**changes: Any) -> TabularConfig:
    return CONNECTOR.config({**MINIMAL, **changes})


def outcomes(config: TabularConfig, body: bytes, name: str = "report.csv") -> list[Any]:
    records = CONNECTOR.read_with(io.BytesIO(body), name, config)
    return list(translate(CONNECTOR, config, records, AT))


def rule(**changes: Any) -> dict[str, Any]:
    return {**MINIMAL["events"][0], **changes}


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        (
            {"events": [rule(fields={**rule()["fields"], "colour": {"value": "x"}})]},
            "PLAN_STARTED: no payload field colour",
        ),
        (
            {"events": [rule(fields={"plan_id": {"value": "x"}})]},
            "payload field(s) plan_type, started_on not mapped",
        ),
        ({"codes": {}}, "no code list 'cpr'"),
        (
            {"events": [rule(when=[{"column": "X", "present": True, "in": ["Y"]}])]},
            "give one of present, in, not_in",
        ),
        (
            {
                "events": [
                    rule(fields={**rule()["fields"], "plan_id": {"value": "x", "column": "Y"}})
                ]
            },
            "give exactly one of column, value, template, columns",
        ),
        ({"checks": {"Flag": "yes_no"}}, "names no code list 'yes_no'"),
        ({"events": []}, "events"),
        ({"input": {"key": []}}, "key"),
    ],
)
def test_a_bad_mapping_is_refused_when_loaded_naming_what(
    changes: dict[str, Any], message: str
) -> None:
    with pytest.raises(InputError, match=message.replace("(", r"\(").replace(")", r"\)")):
        mapping(**changes)


def test_a_table_without_a_column_the_mapping_reads_is_refused_whole() -> None:
    with pytest.raises(InputError, match=r"missing column\(s\) Category; the header has"):
        outcomes(mapping(), b"Child ID,Start\nC1,01/04/2025\n")


def test_each_problem_of_a_row_is_named_by_its_column_and_reported_once() -> None:
    body = b"Child ID,Start,Category\n,31/04/2025,Q\nC2,01/04/2025,n\n"
    refused, mapped = outcomes(mapping(), body)
    assert isinstance(refused, Refused)
    assert refused.record.location == "report.csv:2"
    assert refused.issues == (
        ("Child ID", "is required"),
        ("Start", "'31/04/2025' is not a date (expected DD/MM/YYYY or YYYY-MM-DD)"),
        ("Category", "'Q' is not in the code list cpr (N)"),
    )
    assert refused.record.raw == b",31/04/2025,Q\n"  # quarantined as it was sent
    assert isinstance(mapped, Mapped)
    [event] = mapped.events
    assert isinstance(event.payload, PlanStarted)
    assert event.payload.category == "neglect"  # codes match in any case
    assert event.payload.plan_id == "C2:register:01/04/2025"


def test_a_welsh_plan_keeps_its_name_and_statute_and_a_councils_own_wording_wins() -> None:
    body = b"Child ID,Start,Category\nC1,01/04/2025,N\n"
    [default] = outcomes(mapping(), body)
    fields = {**rule()["fields"], "local_name": {"value": "ar y Gofrestr Amddiffyn Plant"}}
    [own] = outcomes(mapping(events=[rule(fields=fields)]), body)
    assert isinstance(default, Mapped)
    assert isinstance(own, Mapped)
    plan = default.events[0].payload
    assert isinstance(plan, PlanStarted)
    assert plan.jurisdiction is Jurisdiction.WALES
    assert plan.local_name == "registration on the Child Protection Register"
    assert plan.statute is not None
    assert "Wales Safeguarding Procedures" in plan.statute
    assert isinstance(own.events[0].payload, PlanStarted)
    assert own.events[0].payload.local_name == "ar y Gofrestr Amddiffyn Plant"


def test_an_old_excel_workbook_and_a_broken_one_are_refused_whole() -> None:
    with pytest.raises(InputError, match=r"Excel 97-2003 workbook \(\.xls\)"):
        outcomes(mapping(), b"\xd0\xcf\x11\xe0" + b"\x00" * 60, "report.xls")
    with pytest.raises(InputError, match=r"not a readable \.xlsx workbook"):
        outcomes(mapping(), b"PK\x03\x04 not really a zip", "report.xlsx")


def test_a_workbook_whose_relationships_are_broken_is_refused_whole() -> None:
    """openpyxl only warns of a part's broken relationships and reads on without them (a
    mutation of the golden form found it; with warnings as errors the warning escaped as a
    crash): the file is damaged, so it is refused whole, never a crash of the run."""
    import io
    import zipfile

    source = zipfile.ZipFile(io.BytesIO((GOLDEN / "lac-census-episodes.input.xlsx").read_bytes()))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as rewritten:
        for member in source.namelist():
            data = source.read(member)
            if member == "xl/_rels/workbook.xml.rels":
                data = data.replace(b"Type=", b"Tipe=", 1)  # a relationship without its type
            rewritten.writestr(member, data)
    config = CONNECTOR.config(CONNECTOR.example_config)
    with pytest.raises(InputError, match=r"lac\.xlsx: not a readable \.xlsx workbook"):
        outcomes(config, out.getvalue(), "lac.xlsx")


def test_a_workbook_that_lost_a_sheets_relationship_is_refused_whole() -> None:
    """openpyxl drops a sheet whose entry has no relationship id, warning only (a fuzzed
    workbook found it): read on, the first sheet would be another one, so the file is refused
    whole as damaged."""
    import io
    import zipfile

    source = zipfile.ZipFile(io.BytesIO((GOLDEN / "lac-census-episodes.input.xlsx").read_bytes()))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as rewritten:
        for member in source.namelist():
            data = source.read(member)
            if member == "xl/workbook.xml":
                data = data.replace(b' r:id="rId1"', b"", 1)  # the Episodes sheet's
            rewritten.writestr(member, data)
    example = dict(CONNECTOR.example_config)
    example["input"] = {k: v for k, v in example["input"].items() if k != "sheet"}
    first_sheet = CONNECTOR.config(example)
    with pytest.raises(InputError, match=r"lac\.xlsx: not a readable \.xlsx workbook: .*invalid"):
        outcomes(first_sheet, out.getvalue(), "lac.xlsx")


def test_a_workbook_that_would_unpack_past_the_limit_is_refused_unread(tmp_path: Path) -> None:
    import zipfile

    bomb = tmp_path / "bomb.xlsx"
    with zipfile.ZipFile(bomb, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("xl/worksheets/sheet1.xml", b"\0" * (3 * 2**20))  # ~3 KiB packed
    config = CONNECTOR.config(
        {**MINIMAL, "input": {"key": ["Child ID", "Start"], "max_unpacked_mib": 2}}
    )
    with pytest.raises(InputError, match=r"unpacks to 3 MiB, over the limit of 2 MiB"):
        outcomes(config, bomb.read_bytes(), "bomb.xlsx")


def test_a_sheet_the_workbook_does_not_have_is_named_with_those_it_has() -> None:
    config = CONNECTOR.config(
        {**CONNECTOR.example_config, "input": {**CONNECTOR.example_config["input"], "sheet": "X"}}
    )
    body = (GOLDEN / "lac-census-episodes.input.xlsx").read_bytes()
    with pytest.raises(InputError, match=r"no sheet 'X' \(the workbook has Episodes, Notes\)"):
        outcomes(config, body, "lac.xlsx")


def test_the_same_rows_in_csv_and_in_a_workbook_map_to_the_same_events(tmp_path: Path) -> None:
    """Excel's floats and date-times read as a CSV export of them would: one mapping, both."""
    config = mapping(
        input={"key": ["Child ID", "Start"], "header_row": 2},
        events=[rule(fields={**rule()["fields"], "category": {"column": "Category"}})],
    )
    from openpyxl import Workbook

    workbook = Workbook()
    sheet = workbook.active
    assert sheet is not None
    sheet.append(["Report of 2025-04-30"])
    sheet.append(["Child ID", "Start", "Category"])
    sheet.append([1001, datetime(2025, 4, 1), "N"])
    workbook.save(tmp_path / "report.xlsx")
    [from_excel] = outcomes(config, (tmp_path / "report.xlsx").read_bytes(), "report.xlsx")
    [from_csv] = outcomes(
        mapping(events=config.model_dump()["events"]),
        b"Child ID,Start,Category\n1001,2025-04-01,N\n",
    )
    assert isinstance(from_excel, Mapped)
    assert isinstance(from_csv, Mapped)
    assert from_excel.record.location == "report.xlsx!Sheet:3"
    assert from_excel.record.key == "1001|2025-04-01"
    assert [e.payload for e in from_excel.events] == [e.payload for e in from_csv.events]


def test_the_crcs_mapping_classifies_each_parenting_capacity_factor_as_the_policy_says() -> None:
    config = CONNECTOR.config(CRCS)
    seen = set()
    for rule_ in config.events:
        if rule_.type is not EventType.ASSESSMENT_COMPLETED:
            continue
        listed = rule_.fields["factors"].value
        assert isinstance(listed, tuple)
        [factor] = listed
        expected = PARENTING_CAPACITY_FACTORS[factor]
        assert (rule_.category, rule_.sensitivity) == (expected.category, expected.sensitivity)
        seen.add(factor)
    assert seen == set(PARENTING_CAPACITY_FACTORS)


def test_a_crcs_row_states_the_register_the_plan_and_each_factor_present() -> None:
    config = CONNECTOR.config(CRCS)
    body = (GOLDEN / "crcs-census.input.csv").read_bytes()
    first = outcomes(config, body, "crcs.csv")[0]
    assert isinstance(first, Mapped)
    kinds = [(e.event_type, e.data_category) for e in first.events]
    assert [k for k, _ in kinds] == ["PLAN_STARTED", "PLAN_STARTED"] + ["ASSESSMENT_COMPLETED"] * 2
    factors = [e.payload for e in first.events if isinstance(e.payload, AssessmentCompleted)]
    assert [f.factors for f in factors] == [("domestic abuse",), ("parental mental ill health",)]
    plans = [e.payload for e in first.events if isinstance(e.payload, PlanStarted)]
    assert [p.local_name for p in plans] == [
        "care and support plan",
        "registration on the Child Protection Register",
    ]
    assert plans[0].statute == f"{SSWBA}, s.54"


@pytest.mark.parametrize(
    ("name", "rows"),
    [("lac-census-episodes", LAC_EPISODES), ("lac-census-bad-rows", LAC_BAD_ROWS)],
)
def test_the_committed_census_forms_hold_the_helpers_rows(
    name: str, rows: list[tuple[Any, ...]]
) -> None:
    path = GOLDEN / f"{name}.input.xlsx"
    if os.environ.get("HUB_UPDATE_GOLDEN") == "1":
        write_lac_episodes(path, rows)
    assert read_rows(path) == [tuple(row) for row in rows]
