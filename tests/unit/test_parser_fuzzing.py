"""Fuzzing every parser that takes outside input (hypothesis).

The property, for each: the parser returns valid events (or its own refusal value), or raises
the project's named error — :class:`Hl7ReadError`, :class:`RecordError` (HL7's
:class:`Hl7RecordError` among them), :class:`InputError` — which the shell turns into a NAK, a
quarantine record or a 4xx. Never another exception,
never a hang (pytest's per-test timeout bounds the run).

Inputs are structured mutations of the golden samples (the public ones among them) and
arbitrary bytes / JSON. The default example counts keep this file to seconds in ``make test``;
a longer run::

    HUB_FUZZ_EXAMPLES=5000 .venv/bin/pytest tests/unit/test_parser_fuzzing.py

Every bug the fuzzers found is kept below as an explicit ``@example``.
"""

from __future__ import annotations

import html
import io
import json
import os
import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from hub.connectors.discovery import discover, load_connector
from hub.connectors.fhir.appointment import AppointmentConnector, appointment_to_event
from hub.connectors.fhir.bundle import read_bundle, resource_to_events
from hub.connectors.fhir.common import load_json
from hub.connectors.hl7v2.ack import build_ack
from hub.connectors.hl7v2.connector import HL7V2, hl7_refusal
from hub.connectors.hl7v2.reading import Hl7ReadError, parse
from hub.connectors.messages import map_message, message_record
from hub.connectors.outcomes import Mapped, Refused
from hub.connectors.outcomes import translate as translate_records
from hub.connectors.partners import webhook_record
from hub.connectors.sdk import InputError, RecordError
from hub.events import CaseEvent
from tests.support.golden import GOLDEN_SOURCES

GOLDEN = Path(__file__).resolve().parents[1] / "golden"
HL7_SAMPLES = [p.read_bytes() for p in sorted((GOLDEN / "hl7v2").glob("*.input.hl7"))]
FHIR_SAMPLES = [
    json.loads(p.read_bytes())
    for folder in ("fhir_resources", "fhir_appointment")
    for p in sorted((GOLDEN / folder).glob("*.input.json"))
    if p.read_bytes().lstrip().startswith(b"{")
]
CONNECTOR_SAMPLES = sorted(  # text inputs: their cells are mutated as text
    p for p in (GOLDEN / "connectors").glob("*/*.input.*") if p.suffix in {".csv", ".xml"}
)
SOURCES = GOLDEN_SOURCES
APPOINTMENT = AppointmentConnector()
RECORDED_AT = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)
EXAMPLES = int(os.environ.get("HUB_FUZZ_EXAMPLES", "60"))
fuzz = settings(max_examples=EXAMPLES, deadline=None)

# --- HL7 v2 -------------------------------------------------------------------------------------

HL7_TEXT = st.text(st.characters(codec="latin-1"), max_size=40)
HL7_PIECES = st.sampled_from(
    ["|", "^", "~", "\\", "&", "\r", "\n", '""', "MSH", "PID", "SCH", "AIS", "\\X00\\", "\x00"]
)


@st.composite
def mutated_hl7(draw: st.DrawFn) -> bytes:
    """A golden sample with a few fields replaced, deleted or repeated, segments dropped or
    duplicated, and the text cut or spliced."""
    text = draw(st.sampled_from(HL7_SAMPLES)).decode("latin-1")
    segments = [s for s in text.replace("\r\n", "\r").replace("\n", "\r").split("\r") if s]
    for _ in range(draw(st.integers(1, 4))):
        if not segments:
            break
        i = draw(st.integers(0, len(segments) - 1))
        fields = segments[i].split("|")
        choice = draw(st.integers(0, 5))
        if choice == 0:
            j = draw(st.integers(0, len(fields) - 1))
            fields[j] = draw(HL7_TEXT | HL7_PIECES)
        elif choice == 1 and len(fields) > 1:
            del fields[draw(st.integers(1, len(fields) - 1))]
        elif choice == 2:
            fields.append(draw(HL7_TEXT))
        elif choice == 3:
            segments.insert(i, segments[i])
        elif choice == 4 and len(segments) > 1:
            del segments[i]
            continue
        else:
            cut = draw(st.integers(0, len(segments[i])))
            fields = (segments[i][:cut] + draw(HL7_PIECES | HL7_TEXT) + segments[i][cut:]).split(
                "|"
            )
        segments[i] = "|".join(fields)
    ending = draw(st.sampled_from(["\r", "\n", "\r\n"]))
    return ending.join(segments).encode(draw(st.sampled_from(["latin-1", "utf-8"])))


def _hl7_property(raw: bytes) -> None:
    try:
        message = parse(raw)
    except Hl7ReadError:
        build_ack(None, "AR", ())
        return
    outcome = map_message(HL7V2, message_record(raw, "fuzz"), message, SOURCES, RECORDED_AT)
    if isinstance(outcome, Mapped):
        assert outcome.events
        assert all(isinstance(e, CaseEvent) for e in outcome.events)
        build_ack(message, "AA", ())
    else:
        refusal = hl7_refusal(outcome)
        assert refusal.problems or refusal.code == "AE", refusal
        build_ack(message, refusal.code, refusal.problems)


# An AIS start whose seconds are 86 trillion: hl7's DTM parser raised OverflowError (days > 10^9).
_SIU = (GOLDEN / "hl7v2" / "siu-s26-noshow-start-in-ais.input.hl7").read_bytes()
ABSURD_SECONDS = _SIU.replace(b"20260302093000+0000", b"20260302093086400003024000+0000")
assert ABSURD_SECONDS != _SIU, "the golden SIU's AIS start changed: pin the example anew"


@fuzz
@given(mutated_hl7())
@example(ABSURD_SECONDS)
def test_mutated_hl7_messages_map_or_are_refused(raw: bytes) -> None:
    _hl7_property(raw)


@fuzz
@given(st.binary(max_size=400) | st.binary(max_size=200).map(lambda tail: b"MSH|^~\\&|" + tail))
def test_arbitrary_bytes_as_hl7(raw: bytes) -> None:
    _hl7_property(raw)


# --- FHIR JSON ----------------------------------------------------------------------------------

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=10,
)


def _paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    found = [prefix]
    if isinstance(value, dict):
        for key, child in value.items():
            found += _paths(child, (*prefix, key))
    elif isinstance(value, list):
        for index, child in enumerate(value):
            found += _paths(child, (*prefix, index))
    return found


@st.composite
def mutated_fhir(draw: st.DrawFn) -> Any:
    """A sample resource or Bundle with a few elements replaced by arbitrary JSON or removed."""
    document = json.loads(json.dumps(draw(st.sampled_from(FHIR_SAMPLES))))
    for _ in range(draw(st.integers(1, 3))):
        paths = [p for p in _paths(document) if p]
        if not paths:
            break
        *parents, last = draw(st.sampled_from(paths))
        holder = document
        for part in parents:
            holder = holder[part]
        if draw(st.booleans()):
            holder[last] = draw(json_values)
        else:
            del holder[last]
    return document


def _fhir_property(body: bytes) -> None:
    """What the FHIR endpoints do with a body: the single-resource and the Bundle routes."""
    issues: list[list[tuple[str, str]]] = []
    try:
        data = load_json(body)
        if data.get("resourceType") == "Bundle":
            reading = read_bundle(body, organisation_code="R0A", recorded_at=RECORDED_AT)
            for entry in reading.entries:
                assert (entry.event is None) != (entry.error is None)
        else:
            events = resource_to_events(data, organisation_code="R0A", recorded_at=RECORDED_AT)
            assert events
            assert all(isinstance(e, CaseEvent) for e in events)
    except RecordError as error:
        issues.append(error.issues)
    try:
        appointment = APPOINTMENT.read(body)
        appointment_to_event(appointment, organisation_code="R0A", recorded_at=RECORDED_AT)
    except RecordError as error:
        issues.append(error.issues)
    assert all(issues), "a refusal must name what is wrong"


@fuzz
@given(mutated_fhir())
def test_mutated_fhir_resources_and_bundles_map_or_are_refused(document: Any) -> None:
    _fhir_property(json.dumps(document).encode())


@fuzz
@given(json_values.map(lambda v: json.dumps(v).encode()) | st.binary(max_size=200))
@example(b"[" * 100_000)  # deeper than the JSON parser's recursion limit
@example(b'{"resourceType": "Bundle", "type": "batch", "entry": ' + b"[" * 50_000)
@example(b'{"resourceType": "Bundle", "type": []}')  # an unhashable type was a TypeError (500)
@example(
    b'{"resourceType": "Bundle", "type": "history", "entry": [{"resource": {"resourceType": []}}]}'
)
def test_arbitrary_json_and_bytes_as_fhir(body: bytes) -> None:
    _fhir_property(body)


# --- CSV rows, XML returns and webhook bodies ---------------------------------------------------

CONNECTORS = sorted(discover())
CELL_TEXT = st.text(st.characters(exclude_categories=["Cs"]), max_size=15) | st.sampled_from(
    ["", '"', ",", "\n", "\r\n", "2026-01-20", "9434765919", "-1", "1e400", "NaN", "\x00"]
)


def _connector_property(name: str, body: bytes) -> None:
    connector = load_connector(name)
    config = connector.config(connector.example_config)
    try:
        records = list(connector.read_with(io.BytesIO(body), "fuzz", config))
    except InputError as error:
        records, refusal = [], str(error)
        assert refusal
    for outcome in translate_records(connector, config, records, RECORDED_AT):
        assert isinstance(outcome, Mapped | Refused)
        if isinstance(outcome, Refused):
            assert outcome.issues


@st.composite
def mutated_input(draw: st.DrawFn) -> tuple[str, bytes]:
    """A golden input with values replaced: CSV cells (the header kept, so rows reach the
    mapping) or XML text nodes (escaped, so the file stays well-formed, or raw)."""
    path = draw(st.sampled_from(CONNECTOR_SAMPLES))
    text = path.read_text("utf-8-sig")
    for _ in range(draw(st.integers(1, 4))):
        if path.suffix == ".xml":
            nodes = list(re.finditer(r">([^<]*)<", text))
            node = draw(st.sampled_from(nodes))
            value = draw(CELL_TEXT)
            if draw(st.booleans()):
                value = html.escape(value)
            text = text[: node.start(1)] + value + text[node.end(1) :]
            continue
        lines = text.splitlines()
        i = draw(st.integers(1, len(lines) - 1))
        cells = lines[i].split(",")
        cells[draw(st.integers(0, len(cells) - 1))] = draw(CELL_TEXT)
        lines[i] = ",".join(cells)
        text = "\n".join(lines)
    return path.parent.name, text.encode()


STRAY_TEXT = (
    b"<Message><Children><Child><ChildIdentifiers><LAchildID>C1</LAchildID></ChildIdentifiers>"
    b"</Child>stray text</Children></Message>"
)


@fuzz
@given(mutated_input())
@example(("cin-census", STRAY_TEXT))  # the text after </Child> was kept: a ParseError in map
def test_mutated_connector_inputs_map_or_are_refused(case: tuple[str, bytes]) -> None:
    _connector_property(*case)


# Each entity is ten of the one before: "i" expands to 10^8 bytes of "a".
LAUGHS = (
    b'<?xml version="1.0"?><!DOCTYPE l [<!ENTITY a "aaaaaaaaaa">'
    + b"".join(b'<!ENTITY %c "%s">' % (98 + i, b"&%c;" % (97 + i) * 10) for i in range(8))
    + b"]><Message><Children><Child><ChildIdentifiers><LAchildID>&i;</LAchildID>"
    + b"</ChildIdentifiers></Child></Children></Message>"
)


@fuzz
@given(st.sampled_from(CONNECTORS), st.binary(max_size=300))
@example("ssda903-episodes", b"\xff\xfe\x00")
@example("cin-census", LAUGHS)  # entity expansion ("billion laughs"): refused by expat
def test_arbitrary_bytes_as_connector_input(name: str, body: bytes) -> None:
    _connector_property(name, body)


WEBHOOK_TYPES = st.sampled_from(["session_missed", "session_attended", "assessment_score", "x"])


@fuzz
@given(
    json_values
    | st.fixed_dictionaries(
        {"type": WEBHOOK_TYPES | json_values, "data": st.dictionaries(CELL_TEXT, json_values)}
    )
    | st.binary(max_size=200)
)
@example(b'{"type": "session_missed", "data": ' + b"[" * 100_000)  # was a RecursionError (500)
def test_webhook_bodies_map_or_are_refused(payload: Any) -> None:
    connector = load_connector("voluntary-activity")
    config = connector.config(connector.example_config)
    body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    record = webhook_record(body, "msg_1")
    [outcome] = translate_records(connector, config, [record], RECORDED_AT)
    assert isinstance(outcome, Mapped | Refused)


@pytest.mark.parametrize("name", CONNECTORS)
def test_every_connector_is_fuzzed(name: str) -> None:
    assert name in {path.parent.name for path in CONNECTOR_SAMPLES}, f"no sample for {name}"


# --- .xlsx workbooks (the tabular connector) -----------------------------------------------------

WORKBOOKS = sorted((GOLDEN / "connectors").glob("tabular/*.input.xlsx"))


@st.composite
def damaged_workbook(draw: st.DrawFn) -> bytes:
    """A golden census form with bytes of one zip member (a sheet's XML, the shared strings,
    the workbook's parts) changed and the zip rewritten, or the file's own bytes changed."""
    import zipfile

    raw = draw(st.sampled_from(WORKBOOKS)).read_bytes()
    if draw(st.booleans()):
        mutated = bytearray(raw)
        for _ in range(draw(st.integers(1, 6))):
            mutated[draw(st.integers(0, len(raw) - 1))] = draw(st.integers(0, 255))
        return bytes(mutated)
    source = zipfile.ZipFile(io.BytesIO(raw))
    target = draw(st.sampled_from(source.namelist()))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as rewritten:
        for member in source.namelist():
            data = bytearray(source.read(member))
            if member == target and data:
                for _ in range(draw(st.integers(1, 6))):
                    data[draw(st.integers(0, len(data) - 1))] = draw(st.integers(0, 255))
            rewritten.writestr(member, bytes(data))
    return out.getvalue()


@fuzz
@given(damaged_workbook())
def test_a_damaged_workbook_is_refused_or_its_rows_map_or_are_refused(body: bytes) -> None:
    _connector_property("tabular", body)
