"""Mapping a council extract's refused row again (ADR 0030, addendum): with the connector and
settings file the operator names, only for a self-contained CSV row of that configuration's
system and an extract with a run on record; a fixed file maps it to the events it would have
had on arrival."""

from __future__ import annotations

import io
import tomllib
import uuid
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from hub.bootstrap import Hub, build_hub, error_queue
from hub.connectors.cursors import CursorStore, Written
from hub.connectors.outcomes import Mapped, Refused, translate
from hub.connectors.runtime import DUPLICATE_KEY, refusal_record
from hub.connectors.sdk import ConnectorConfig
from hub.connectors.tabular.connector import TabularConnector
from hub.connectors.tabular.mapping import TabularConfig
from hub.errorqueue.fold import Channel, Item, Refusal, fold
from hub.events import utc_now
from hub.services.quarantine_replay import ExtractMapping, Mappers, map_again
from hub.settings import Settings

pytestmark = pytest.mark.kafka

EXAMPLE = (
    Path(__file__).resolve().parents[2]
    / "hub"
    / "connectors"
    / "tabular"
    / "examples"
    / "lac-census-episodes.toml"
)
EXTRACT = (
    b"Child ID,UPN,Episode start date,Reason for new episode,Legal status,Episode end date,"
    b"Reason episode ceased\r\n"
    b"NP-1001,A123456789012,01/04/2024,S,C2,,\r\n"
    b"NP-1002,A123456789013,02/04/2024,S,V2,,\r\n"
)
CONNECTOR = TabularConnector()
FIXED = CONNECTOR.config(tomllib.loads(EXAMPLE.read_text("utf-8")))
LACKING = CONNECTOR.config(tomllib.loads(EXAMPLE.read_text("utf-8").replace('V2 = "V2"', "")))


@pytest.fixture
def hub(make_settings: Callable[..., Settings]) -> Iterator[Hub]:
    made = build_hub(make_settings())
    try:
        yield made
    finally:
        made.close()


def refused_item(content_type: str | None, system: str) -> Item:
    now = utc_now()
    return Item(
        uuid.uuid4(), Channel.EXTRACT, "extract", system, None, content_type, "", (), now, now, 1
    )


def test_an_extract_row_maps_again_only_as_its_extract_runs(hub: Hub) -> None:
    _, mappers = error_queue(hub)
    sources = mappers.sources()
    outcomes = list(
        translate(
            CONNECTOR,
            LACKING,
            CONNECTOR.read_with(io.BytesIO(EXTRACT), "lac.csv", LACKING),
            utc_now(),
        )
    )
    [refusal] = [o for o in outcomes if isinstance(o, Refused)]
    kept = refusal_record(refusal, channel="extract", system=LACKING.system)
    item = refused_item(kept.content_type, LACKING.system)

    said = map_again(mappers, sources, item, kept.raw)
    assert isinstance(said, str)
    assert "--connector NAME --config FILE" in said

    cursors = CursorStore(hub.alerts.engine)
    cursors.create_schema()
    cursor = "tabular:newport-lac-census"

    def given(config: ConnectorConfig) -> Mappers:
        return replace(mappers, extract=ExtractMapping(CONNECTOR, config, cursor, cursors))

    said = map_again(given(FIXED), sources, item, kept.raw)
    assert said == f"no run of the extract {cursor!r}: name it as its runs do (--extract)"
    cursors.finish(cursor, cursors.start(cursor, "lac.csv"), records=2, published=1)

    other = replace(item, source_system="another-council")
    assert "not another-council's" in str(map_again(given(FIXED), sources, other, kept.raw))
    workbook_row = replace(item, content_type=None)  # a workbook row's raw is its cells' JSON
    said = map_again(given(FIXED), sources, workbook_row, b'{"Child ID": "NP-1002"}')
    assert isinstance(said, str)
    assert said.startswith("not a self-contained CSV row")

    still = map_again(given(LACKING), sources, item, kept.raw)
    assert isinstance(still, Refused)
    assert "'V2' is not in the code list legal_status" in str(still.issues)

    now_maps = map_again(given(FIXED), sources, item, kept.raw)
    assert isinstance(now_maps, Mapped)
    arrived_right = [
        o
        for o in translate(
            CONNECTOR, FIXED, CONNECTOR.read_with(io.BytesIO(EXTRACT), "lac.csv", FIXED), utc_now()
        )
        if isinstance(o, Mapped) and o.record.key == now_maps.record.key
    ]
    [right] = arrived_right
    assert [e.event_id for e in now_maps.events] == [e.event_id for e in right.events]
    assert now_maps.record.digest() == right.record.digest()  # the cursor's next run: unchanged


def test_a_row_refused_for_a_key_its_run_had_twice_is_not_replayed_over_the_other(
    hub: Hub,
) -> None:
    """The run kept the first row of a key and refused the second: replaying the second as it
    is would publish its events over the first's; with its key corrected it maps."""
    _, mappers = error_queue(hub)
    sources = mappers.sources()
    twice = EXTRACT + b"NP-1001,A123456789012,01/04/2024,S,V2,,\r\n"  # NP-1001's episode again
    outcomes = list(
        translate(
            CONNECTOR, FIXED, CONNECTOR.read_with(io.BytesIO(twice), "lac.csv", FIXED), utc_now()
        )
    )
    first, _, second = outcomes
    assert isinstance(first, Mapped)
    assert isinstance(second, Mapped)
    assert first.record.key == second.record.key
    cursors = CursorStore(hub.alerts.engine)
    cursors.create_schema()
    cursor = "tabular:newport-lac-census"
    run_id = cursors.start(cursor, "lac.csv")
    ids = frozenset(str(e.event_id) for e in first.events)
    written = Written(first.record.key, first.record.digest(), ids, replaces=False)
    cursors.commit(cursor, run_id, [written], [])
    cursors.finish(cursor, run_id, records=3, published=len(ids))
    refused = Refused(second.record, (("key", f"{second.record.key!r} {DUPLICATE_KEY}"),))
    kept = refusal_record(refused, channel="extract", system=FIXED.system)
    item = fold(None, Refusal(record=kept, sealed=b""), None)
    given = replace(mappers, extract=ExtractMapping(CONNECTOR, FIXED, cursor, cursors))

    said = map_again(given, sources, item, kept.raw)
    assert isinstance(said, str)
    assert "is the extract's from another row of the run that refused it" in said

    other_key = kept.raw.replace(b"NP-1001", b"NP-1003")
    now_maps = map_again(given, sources, item, other_key)
    assert isinstance(now_maps, Mapped)
    assert now_maps.record.key != first.record.key

    refused_otherwise = replace(item, errors=())  # refused for something else: maps as before
    assert isinstance(map_again(given, sources, refused_otherwise, kept.raw), Mapped)


def test_a_row_of_a_file_not_in_utf8_maps_again_as_it_would_have_arrived(hub: Hub) -> None:
    """A council's extract in Windows-1252, a column named with an en dash and a child's id
    with a circumflex: the row is kept in UTF-8 (as every refused row is), so it is read again
    so, not in the file's encoding, and maps to the events and the digest it would have had."""
    column = "Rhif y plentyn \N{EN DASH} Child ID"

    def in_cp1252(toml: str) -> TabularConfig:
        toml = toml.replace("Child ID", column).replace("[input]", '[input]\nencoding = "cp1252"')
        return CONNECTOR.config(tomllib.loads(toml))

    lacking = in_cp1252(EXAMPLE.read_text("utf-8").replace('V2 = "V2"', ""))
    fixed = in_cp1252(EXAMPLE.read_text("utf-8"))
    extract = EXTRACT.replace(b"Child ID", column.encode("cp1252"))
    extract = extract.replace(b"NP-1002", "NP-1002-Siân".encode("cp1252"))
    _, mappers = error_queue(hub)
    sources = mappers.sources()
    [refusal] = [
        o
        for o in translate(
            CONNECTOR,
            lacking,
            CONNECTOR.read_with(io.BytesIO(extract), "lac.csv", lacking),
            utc_now(),
        )
        if isinstance(o, Refused)
    ]
    kept = refusal_record(refusal, channel="extract", system=lacking.system)
    assert "NP-1002-Siân".encode() in kept.raw
    item = fold(None, Refusal(record=kept, sealed=b""), None)
    cursors = CursorStore(hub.alerts.engine)
    cursors.create_schema()
    cursor = "tabular:newport-lac-census"
    cursors.finish(cursor, cursors.start(cursor, "lac.csv"), records=2, published=1)
    given = replace(mappers, extract=ExtractMapping(CONNECTOR, fixed, cursor, cursors))

    now_maps = map_again(given, sources, item, kept.raw)

    assert isinstance(now_maps, Mapped), now_maps
    [right] = [
        o
        for o in translate(
            CONNECTOR, fixed, CONNECTOR.read_with(io.BytesIO(extract), "lac.csv", fixed), utc_now()
        )
        if isinstance(o, Mapped) and o.record.key == now_maps.record.key
    ]
    assert now_maps.record.key.startswith("NP-1002-Siân")
    assert [e.event_id for e in now_maps.events] == [e.event_id for e in right.events]
    assert now_maps.record.digest() == right.record.digest()
