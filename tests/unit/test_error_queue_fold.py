"""The error queue's pure core (ADR 0030): one item per input, who may see it, filters, and
what an HL7 error location names."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

from hub.connectors.hl7v2.locations import locate
from hub.connectors.sdk import csv_row_columns, csv_row_type
from hub.errorqueue.fold import (
    INTEGRATION_ENGINEER,
    Channel,
    Engineer,
    FieldError,
    Filter,
    Operator,
    Refusal,
    Status,
    discloses,
    fold,
    item_id_of,
    may_see,
    redacted,
)
from hub.ingest.record_limits import in_parts
from hub.quarantine import quarantine_record

S26 = (
    Path(__file__).resolve().parents[1]
    / "golden"
    / "hl7v2"
    / "siu-s26-noshow-start-in-ais.input.hl7"
).read_bytes()
T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def refusal(raw: bytes = S26, *, at: datetime = T0, message: str = "bad", **kw: object) -> Refusal:
    record = quarantine_record(
        raw, channel="mllp", reason="HL7 AE", errors=[("AIL-3.1", message)], source_system="A@MFT"
    ).model_copy(update={"received_at": at})
    return Refusal(record=record, sealed=b"sealed", **kw)


def test_the_same_input_refused_again_is_the_same_item() -> None:
    first = fold(None, refusal(key_ids=("k1",)), "R0A")
    again = fold(first, refusal(at=T0 + timedelta(hours=1), message="still bad"), "R0A")
    assert (again.item_id, again.times) == (first.item_id, 2)
    assert (again.first_seen, again.last_seen) == (T0, T0 + timedelta(hours=1))
    assert again.errors == (FieldError("AIL-3.1", "still bad"),)  # the latest
    assert again.key_ids == ("k1",)
    assert again.channel is Channel.MLLP
    other = fold(None, refusal(S26 + b"\r"), "R0A")
    assert other.item_id != first.item_id


def test_clear_text_is_redacted_of_nhs_numbers() -> None:
    item = fold(None, refusal(message="'943 476 5919' is not on the index"), "R0A")
    assert item.errors[0].message == "'<nhs-number>' is not on the index"
    assert redacted("ref 9434765919.") == "ref <nhs-number>."


def test_parts_of_a_large_input_are_one_item_counted_once() -> None:
    record = quarantine_record(b"x" * 2500, channel="upload", reason="too big")
    parts = in_parts(record, size=1000)
    assert len(parts) == 3
    item = None
    for part in parts:
        item = fold(item, Refusal(record=part, sealed=b"s"), None)
    assert item is not None
    assert (item.item_id, item.times, item.parts) == (record.quarantine_id, 1, 3)
    assert {item_id_of(p) for p in parts} == {record.quarantine_id}


def test_a_dead_letter_says_where_it_failed() -> None:
    record = quarantine_record(
        b"entry",
        channel="case-event-stream",
        reason="hub.family-events.v1[1]@42: projection failed",
    )
    item = fold(None, Refusal(record=record, sealed=b"s", dead_letter=True), None)
    assert item.channel is Channel.DEAD_LETTER
    assert item.failed_at is not None
    assert (item.failed_at.topic, item.failed_at.partition, item.failed_at.offset) == (
        "hub.family-events.v1",
        1,
        42,
    )


def test_an_engineer_sees_only_their_own_organisations_input() -> None:
    item = fold(None, refusal(key_ids=("k1",)), "R0A")
    unknown = fold(None, refusal(b"MSH|other"), None)
    mine = Engineer("R0A", INTEGRATION_ENGINEER, "ie-1")
    assert may_see(mine, item)
    assert not may_see(Engineer("355", INTEGRATION_ENGINEER, "ie-2"), item)
    assert not may_see(Engineer("R0A", "COMMUNITY_MIDWIFE", "mw-1"), item)
    assert not may_see(mine, unknown)  # no organisation: the operators' alone
    assert may_see(Operator(), unknown)
    assert discloses(mine, item)
    assert not discloses(Operator(), item)
    assert not discloses(mine, fold(None, refusal(), "R0A"))  # names nobody


def test_filters() -> None:
    item = fold(None, refusal(message="unknown clinic code"), "R0A")
    assert Filter(reason="CLINIC").takes(item, Status.OPEN)
    assert not Filter(reason="nhs").takes(item, Status.OPEN)
    assert Filter(channel=Channel.MLLP, source="A@MFT").takes(item, Status.OPEN)
    assert not Filter(channel=Channel.UPLOAD).takes(item, Status.OPEN)
    assert not Filter(status=Status.REPLAYED).takes(item, Status.OPEN)
    assert Filter(since=T0, until=T0 + timedelta(seconds=1)).takes(item, Status.OPEN)
    assert not Filter(since=T0 + timedelta(seconds=1)).takes(item, Status.OPEN)


def test_hl7_locations_name_the_segment_and_value() -> None:
    found = locate(S26, "AIL-3.1")
    assert found is not None
    assert found.value == "NMGH-ANC"
    assert found.segment is not None
    assert found.segment.startswith("AIL|1||NMGH-ANC")
    pid = locate(S26, "PID-3")
    assert pid is not None
    assert pid.value == "M1234567"
    assert locate(S26, "body") is None
    assert locate(S26, "ZZZ-1") == type(found)("ZZZ-1", None, "")
    broken = b"MSH|^~\\&|A|B\rPID|1||123^^^X\r"  # too short for python-hl7's MSH
    located = locate(broken, "PID-3")
    assert located is not None
    assert located.value == "123"


def test_a_csv_row_keeps_its_columns_in_its_content_type() -> None:
    kind = csv_row_type(["record_id", "event"])
    assert csv_row_columns(kind) == ("record_id", "event")
    assert csv_row_columns("text/csv") is None
    assert csv_row_columns("application/hl7-v2") is None
    assert csv_row_columns(None) is None


def test_a_source_may_refuse_clinics_it_does_not_list() -> None:
    from hub.connectors.hl7v2.listener import receive
    from hub.connectors.outcomes import Mapped, Refused
    from hub.connectors.sources import SourceConfig, SourceRegistry

    def source(**kw: object) -> SourceRegistry:
        config = {"system": "pas", "organisation_code": "R0A", "sending_facilities": ["MFT"]}
        return SourceRegistry([SourceConfig.model_validate({**config, **kw})])

    assert isinstance(receive(S26, source()).outcome, Mapped)  # default: the source's owner
    refused = receive(S26, source(unknown_clinics="refuse")).outcome
    assert isinstance(refused, Refused)
    assert list(refused.issues) == [
        ("AIL-3.1", "unknown clinic code 'NMGH-ANC': not in [clinics] of source pas")
    ]
    listed = source(unknown_clinics="refuse", clinics={"NMGH-ANC": "R0A"})
    assert isinstance(receive(S26, listed).outcome, Mapped)


def test_a_fhir_resource_replays_through_the_fhir_mapping_with_the_same_ids() -> None:
    from typing import cast

    from hub.connectors.fhir.bundle import resource_to_events
    from hub.connectors.outcomes import Mapped, Refused
    from hub.connectors.sources import SourceRegistry
    from hub.events import utc_now
    from hub.services.quarantine_replay import Mappers, map_again

    golden = Path(__file__).resolve().parents[1] / "golden" / "fhir_appointment"
    bad = (golden / "invalid-nhs-number.input.json").read_bytes()
    record = quarantine_record(
        bad, channel="fhir-rest", reason="refused", source_system="fhir-r4:R0A"
    )
    item = fold(None, Refusal(record=record, sealed=b"s"), "R0A")
    assert item.channel is Channel.FHIR
    mappers = cast(Mappers, None)  # the FHIR path reads nothing but the sources
    sources = SourceRegistry([])
    refused = map_again(mappers, sources, item, bad)
    assert isinstance(refused, Refused)
    assert "9434765918" in str(refused.issues)
    fixed = bad.replace(b"9434765918", b"9434765919")
    mapped = map_again(mappers, sources, item, fixed)
    assert isinstance(mapped, Mapped)
    direct = resource_to_events(json.loads(fixed), organisation_code="R0A", recorded_at=utc_now())
    assert [e.event_id for e in mapped.events] == [e.event_id for e in direct]
    entry = b'{"resource": ' + fixed + b', "request": {"method": "POST"}}'  # a Bundle's entry
    again = map_again(mappers, sources, item, entry)
    assert isinstance(again, Mapped)
    assert [e.event_id for e in again.events] == [e.event_id for e in direct]
