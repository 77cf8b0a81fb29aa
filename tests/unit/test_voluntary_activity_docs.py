"""docs/voluntary-activity.md, checked against the connector it documents.

Every event type is documented; every example (webhook body and CSV) maps; every field the
tables call required is refused, naming it, when left out, and every optional one is not; and a
list may be a JSON array or a ``;``-separated string, meaning the same.
"""

from __future__ import annotations

import io
import json
import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from hub.connectors.partners import webhook_record
from hub.connectors.sdk import RecordError
from hub.connectors.voluntary.activity import _MAPPERS, ActivityConfig, VoluntaryActivity
from hub.events import CaseEvent

DOC = Path(__file__).resolve().parents[2] / "docs" / "voluntary-activity.md"
CONNECTOR = VoluntaryActivity()
CONFIG = ActivityConfig(system="docs", organisation_code="VCS-HOMESTART-SALFORD")  # no programme
NOW = datetime(2026, 3, 3, 12, tzinfo=UTC)
ROW = re.compile(r"^\| `(\w+)` \| ([^|]+?) \|", re.MULTILINE)


def sections() -> dict[str, str]:
    """Each ``### `event` `` section of the event types, by the event names in its heading."""
    found: dict[str, str] = {}
    types = DOC.read_text().split("## Event types", 1)[1]
    for section in types.split("\n### ")[1:]:
        heading, _, body = section.partition("\n")
        for name in re.findall(r"`(\w+)`", heading):
            found[name] = body
    return found


def fields_of(section: str) -> dict[str, str]:
    return dict(ROW.findall(section))


def example(section: str, language: str) -> str:
    [block] = re.findall(rf"```{language}\n(.*?)```", section, flags=re.DOTALL)
    return str(block)


def webhook(body: dict[str, Any]) -> list[CaseEvent]:
    record = webhook_record(json.dumps(body).encode(), "msg_docs")
    return CONNECTOR.map(record, CONFIG, NOW)


def refused(body: dict[str, Any]) -> list[str]:
    with pytest.raises(RecordError) as error:
        webhook(body)
    return [name for name, _ in error.value.issues]


SECTIONS = sections()
# Each event's webhook example (a section for two events shows one; the other's is the same
# body under its own type).
CASES = [
    (event, {**json.loads(example(section, "json")), "type": event})
    for event, section in SECTIONS.items()
]


def test_every_event_type_is_documented_with_its_examples() -> None:
    assert set(SECTIONS) == set(_MAPPERS)
    for event, section in SECTIONS.items():
        assert json.loads(example(section, "json"))["type"] in SECTIONS
        assert f",{event}," in example(section, "csv")


@pytest.mark.parametrize(("event", "body"), CASES, ids=[e for e, _ in CASES])
def test_the_webhook_example_maps_and_shows_every_field(event: str, body: dict[str, Any]) -> None:
    documented = fields_of(SECTIONS[event])
    [_] = webhook(body)
    assert set(body["data"]) - {"record_id", "nhs_number"} == set(documented)


@pytest.mark.parametrize("event", sorted(SECTIONS))
def test_the_csv_example_maps(event: str) -> None:
    text = example(SECTIONS[event], "csv")
    records = list(CONNECTOR.read(io.BytesIO(text.encode()), "example.csv"))
    assert records
    for record in records:
        [mapped] = CONNECTOR.map(record, CONFIG, NOW)
        assert SECTIONS[record.fields["event"]] is SECTIONS[event]
        assert mapped.source_record_id == record.key


@pytest.mark.parametrize(("event", "body"), CASES, ids=[e for e, _ in CASES])
def test_required_means_refused_without_it(event: str, body: dict[str, Any]) -> None:
    for name, required in fields_of(SECTIONS[event]).items():
        without = {**body, "data": {k: v for k, v in body["data"].items() if k != name}}
        if required == "no":
            assert webhook(without), f"{event}: {name} is documented as optional"
        else:  # "yes", or "unless configured" (CONFIG names no default programme)
            assert name in refused(without), f"{event}: {name} is documented as required"


def test_every_row_names_its_record_and_person() -> None:
    body = json.loads(example(SECTIONS["session_missed"], "json"))
    data = body["data"]
    assert "record_id" in refused({**body, "data": {**data, "record_id": ""}})
    anonymous = {k: v for k, v in data.items() if k != "nhs_number"}
    assert "person_id" in refused({**body, "data": anonymous})
    assert webhook({**body, "data": {**anonymous, "person_id": "HS-P-12"}})


@pytest.mark.parametrize("event", ["consent_recorded", "consent_withdrawn"])
def test_a_list_is_a_json_array_or_separated_by_semicolons(event: str) -> None:
    body = json.loads(example(SECTIONS[event], "json"))
    separated = {
        **body,
        "data": {k: ";".join(v) if isinstance(v, list) else v for k, v in body["data"].items()},
    }
    assert any(isinstance(v, list) for v in body["data"].values())
    [from_array], [from_string] = webhook(body), webhook(separated)
    assert from_array.payload == from_string.payload


@pytest.mark.parametrize("bad", [[1, 2], ["R0A", None], "[not json"])
def test_a_list_that_is_neither_is_refused_naming_the_field(bad: object) -> None:
    body = json.loads(example(SECTIONS["consent_recorded"], "json"))
    with pytest.raises(RecordError) as error:
        webhook({**body, "data": {**body["data"], "recipients": bad}})
    [(name, message)] = error.value.issues
    assert name == "recipients"
    assert "JSON array" in message or "separated by ';'" in message
