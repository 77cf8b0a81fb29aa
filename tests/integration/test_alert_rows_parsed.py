"""The alerts store keeps its rows' JSON columns parsed between batches (ADR 0050).

What it keeps may change only how fast a batch loads, never what it folds, and it names
people, so it goes when the process learns of an erasure.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta

from sqlalchemy import Engine, MetaData, select

from hub.alerts.rows import JsonColumns
from hub.alerts.store import LIVE, MissedAppointmentStore
from hub.alerts.tables import AlertTables, alert_tables
from hub.bootstrap import ProjectionStores
from hub.erasure.sealing import LogEntry
from hub.storage.positions import BatchEntry
from hub.storage.schema import create_tables
from tests.builders import (
    NHS_NUMBER,
    T0,
    appointment,
    assigned,
    attended,
    booked,
    missed,
    modified,
    registered,
    rescheduled,
)

TOPIC = "family-events"
OTHER = "4010232137"


def _story() -> list[LogEntry]:
    """Two people's appointments, moved and modified between their no-shows, so a later
    batch reads rows whose text an earlier batch parsed and rows whose text has changed."""
    entries: list[LogEntry] = []
    for number in (NHS_NUMBER, OTHER):
        first, second = f"{number}-1", f"{number}-2"
        entries += [
            registered(nhs_number=number),
            assigned("mw-1", nhs_number=number),
            booked(first, nhs_number=number),
            booked(second, start=T0 + timedelta(days=3), nhs_number=number),
            rescheduled(first, T0 + timedelta(days=1), nhs_number=number),
            missed(first, nhs_number=number),
            modified(second, T0 + timedelta(days=4), nhs_number=number),
            assigned("mw-2", nhs_number=number),
            missed(second, nhs_number=number),
            attended(first, nhs_number=number),
        ]
    return entries


def _rows(engine: Engine, tables: AlertTables) -> list[list[tuple[object, ...]]]:
    with engine.connect() as connection:
        return [sorted(tuple(row) for row in connection.execute(select(table))) for table in tables]


def _in_batches(store: MissedAppointmentStore, entries: Sequence[LogEntry], size: int) -> None:
    for start in range(0, len(entries), size):
        batch: list[BatchEntry[LogEntry]] = [
            BatchEntry(o, e) for o, e in enumerate(entries[start : start + size], start)
        ]
        store.apply_batch(TOPIC, 0, batch)


def test_a_store_that_keeps_parsed_columns_writes_what_one_parsing_afresh_writes(
    sql_engine: Engine,
) -> None:
    afresh_tables = alert_tables(MetaData(), "_afresh")
    create_tables(sql_engine, *afresh_tables)
    keeping = MissedAppointmentStore(sql_engine)
    afresh = MissedAppointmentStore(
        sql_engine, tables=afresh_tables, projection="alerts_afresh", columns=JsonColumns(0)
    )
    story = _story()
    for store in (keeping, afresh):
        _in_batches(store, story, size=3)  # each family's rows read again by later batches
    assert keeping.parsed_texts > 0
    assert afresh.parsed_texts == 0
    assert _rows(sql_engine, LIVE) == _rows(sql_engine, afresh_tables)
    assert len(_rows(sql_engine, LIVE)[3]) == 4  # two alerts each: the story was folded
    if sql_engine.dialect.name == "postgresql":
        for table in reversed(afresh_tables):
            table.drop(sql_engine)


def test_columns_keep_at_most_their_bound_and_forget_everything() -> None:
    columns = JsonColumns(keep=2)
    texts = [appointment(f"A-{n}").model_dump_json() for n in range(3)]
    parsed = [columns.appointment(text) for text in texts]
    assert [p.appointment_id for p in parsed] == ["A-0", "A-1", "A-2"]
    assert columns.held == 2
    assert columns.appointment(texts[2]) is parsed[2]  # kept: the same value, not parsed again
    columns.forget()
    assert columns.held == 0
    afresh = JsonColumns(keep=0)
    assert afresh.appointment(texts[0]) == parsed[0]
    assert afresh.held == 0


def test_the_hub_ties_the_parsed_columns_to_the_erasure_epoch(
    embedded_stores: ProjectionStores,
) -> None:
    stores = embedded_stores
    _in_batches(stores.alerts, _story(), size=5)
    assert stores.alerts.parsed_texts > 0
    stores.keys.key_for(NHS_NUMBER)
    stores.keys.shred([NHS_NUMBER], T0)
    assert stores.alerts.parsed_texts == 0
