"""The pydantic models and the Avro schemas are one contract: same fields, same optionality,
and every value survives the trip through fastavro and both framings."""

from __future__ import annotations

import json
import types
import typing
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from pydantic import BaseModel

from hub.events import PAYLOAD_TYPES, CaseEvent
from hub.kafka.codec import (
    DecodeError,
    SingleObjectFraming,
    case_event_codec,
    case_event_to_avro,
    load_schema,
    quarantine_codec,
    schema_fingerprint,
)
from hub.payloads import (
    Appointment,
    CharacteristicRecord,
    PersonIdentifier,
    PersonRegistered,
    Source,
)
from hub.quarantine import QuarantineError, QuarantineRecord
from tests.builders import booked, missed
from tests.strategies import case_events, quarantine_records

AVRO_TEST_DATA = Path(__file__).resolve().parents[1] / "data" / "apache-avro"


def _records(schema: Any, found: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Every named record in a schema, by short name."""
    if isinstance(schema, dict):
        if schema.get("type") == "record":
            found[schema["name"]] = schema
            for field in schema["fields"]:
                _records(field["type"], found)
        elif schema.get("type") == "array":
            _records(schema["items"], found)
    elif isinstance(schema, list):
        for branch in schema:
            _records(branch, found)
    return found


def _nullable_in_avro(field_type: Any) -> bool:
    return isinstance(field_type, list) and "null" in field_type


def _nullable_in_model(annotation: Any) -> bool:
    return typing.get_origin(annotation) in (types.UnionType, typing.Union) and type(
        None
    ) in typing.get_args(annotation)


CONTRACT: list[tuple[str, type[BaseModel]]] = [
    ("case_event", CaseEvent),
    ("case_event", Source),
    ("case_event", PersonIdentifier),
    ("case_event", Appointment),
    ("case_event", CharacteristicRecord),
    *[("case_event", model) for model in PAYLOAD_TYPES.values()],
    ("quarantine_record", QuarantineRecord),
    ("quarantine_record", QuarantineError),
]


@pytest.mark.parametrize(
    ("schema_name", "model"), CONTRACT, ids=lambda v: getattr(v, "__name__", v)
)
def test_model_fields_match_the_avro_record(schema_name: str, model: type[BaseModel]) -> None:
    records = _records(load_schema(schema_name), {})
    record = records[model.__name__]
    avro_fields = {field["name"]: field for field in record["fields"]}
    assert set(model.model_fields) == set(avro_fields)
    for name, info in model.model_fields.items():
        assert _nullable_in_model(info.annotation) == _nullable_in_avro(
            avro_fields[name]["type"]
        ), f"{model.__name__}.{name}: optionality differs between model and schema"


def test_every_avro_record_has_a_model() -> None:
    modelled = {model.__name__ for _, model in CONTRACT}
    for name in ("case_event", "quarantine_record"):
        assert set(_records(load_schema(name), {})) <= modelled


@settings(max_examples=300)
@given(case_events())
def test_every_case_event_round_trips_through_avro(event: CaseEvent) -> None:
    codec = case_event_codec("test-topic")
    assert codec.decode(codec.encode(event)) == event


@settings(max_examples=100)
@given(quarantine_records)
def test_quarantine_records_round_trip(record: QuarantineRecord) -> None:
    codec = quarantine_codec("test-quarantine")
    assert codec.decode(codec.encode(record)) == record


def test_single_object_encoding_matches_apache_avro_ground_truth() -> None:
    """Apache Avro's own messageV1 test vector, written by the Java implementation."""
    schema = json.loads((AVRO_TEST_DATA / "messageV1_test_schema.avsc.json").read_text())
    expected = bytes.fromhex((AVRO_TEST_DATA / "messageV1_test_message.hex.txt").read_text())
    framing = SingleObjectFraming(schema)
    record = {"id": 42, "name": "Bill", "tags": ["dog_lover", "cat_hater"]}
    assert framing.encode(record) == expected
    assert framing.decode(expected) == record


def test_fingerprints_match_apache_avro_schema_tests() -> None:
    """CRC-64-AVRO of the parsing canonical form, against Avro's shared schema-tests.txt."""
    checked = 0
    for case in _schema_test_cases(AVRO_TEST_DATA / "schema-tests.txt"):
        if "fingerprint" in case:
            expected = int(case["fingerprint"]).to_bytes(8, "little", signed=True)
            assert schema_fingerprint(json.loads(case["input"])) == expected, case["input"]
            checked += 1
    assert checked > 20


def _schema_test_cases(path: Path) -> list[dict[str, str]]:
    """Parse Avro's test-file format: ``<<TAG value`` lines and ``<<TAG ... TAG`` blocks."""
    cases: list[dict[str, str]] = []
    lines = iter(path.read_text().splitlines())
    for line in lines:
        if not line.startswith("<<"):
            continue
        tag, _, value = line[2:].partition(" ")
        if not value:  # a heredoc block ending with a line holding only the tag
            block = []
            for inner in lines:
                if inner == tag:
                    break
                block.append(inner)
            value = "\n".join(block)
        if tag == "INPUT":
            cases.append({})
        cases[-1][tag.lower()] = value.strip()
    return cases


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"", "not Avro single-object encoded"),
        (b"\x00\x00\x00\x00\x01hello", "not Avro single-object encoded"),
        (b"\xc3\x01" + b"\x00" * 8 + b"\x02", "unknown writer schema fingerprint"),
    ],
)
def test_undecodable_bytes_say_why(data: bytes, reason: str) -> None:
    with pytest.raises(DecodeError, match=reason):
        case_event_codec("test-topic").decode(data)


@given(case_events())
@settings(max_examples=50)
def test_truncated_or_padded_messages_are_refused(event: CaseEvent) -> None:
    encoded = case_event_codec("test-topic").encode(event)
    with pytest.raises(DecodeError):
        case_event_codec("test-topic").decode(encoded[:-1])
    with pytest.raises(DecodeError, match="trailing bytes"):
        case_event_codec("test-topic").decode(encoded + b"\x00")


@pytest.mark.parametrize(
    "payload",
    [
        {"appointment": None},  # the event type's class refuses it
        PersonRegistered(given_name="Ada", family_name="Example"),  # another type's payload
        ["not", "a", "payload"],
        None,
    ],
)
def test_a_payload_that_is_not_the_event_types_class_is_refused(payload: object) -> None:
    """The union is not tried member by member (ADR 0037): the event type's class decides."""
    event = booked("APT-1")
    data = {**event.model_dump(), "payload": payload}
    with pytest.raises(ValueError, match=r"payload|appointment"):
        CaseEvent.model_validate(data)


def test_a_payload_branch_the_event_type_does_not_name_is_refused_when_decoded() -> None:
    """The payload is built as the class its Avro branch names (ADR 0048): a branch and an
    event type that disagree (an attendance's shape under a no-show's type) are refused with the
    reason, never read as either."""
    codec = case_event_codec("test-topic")
    datum = case_event_to_avro(missed("APT-1"))
    datum["payload"] = ("org.thinkfamilyhub.events.AppointmentAttended", datum["payload"][1])
    data = SingleObjectFraming(load_schema("case_event")).encode(datum)
    with pytest.raises(DecodeError, match="needs a AppointmentMissed payload"):
        codec.decode(data)


def test_uuids_decode_as_uuids_though_read_as_text() -> None:
    """The case-event codec reads a uuid's text and pydantic parses it (ADR 0048): the event
    holds a ``uuid.UUID`` all the same, and text that is no uuid is refused."""
    codec = case_event_codec("test-topic")
    event = missed("APT-1")
    assert codec.decode(codec.encode(event)).event_id == event.event_id
    datum = case_event_to_avro(event)
    datum["event_id"] = "not-a-uuid"
    data = SingleObjectFraming(load_schema("case_event")).encode(datum)
    with pytest.raises(DecodeError, match="event_id"):
        codec.decode(data)
