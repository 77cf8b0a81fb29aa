"""Projection tables made by an earlier version are refused at start, and a rebuild mends them.

Recipients became (organisation, id) (ADR 0022): an ``alert_recipients`` or ``taf_items`` table
from before has no organisation column, and ``CREATE TABLE IF NOT EXISTS`` would leave it so —
every later write would fail, or a read would match namesakes. ``alert_people`` gained the
person's language (issue 21): one from before lacks the column. The stores refuse such a table
with the command that rebuilds it; the rebuild's swap (ADR 0015) replaces it whatever its shape.
"""

from __future__ import annotations

import pytest
from sqlalchemy import Engine, text

from hub.alerts.fold import PROJECTION
from hub.alerts.store import LIVE, MissedAppointmentStore
from hub.alerts.tables import alert_tables
from hub.projections.generations import REBUILD, generation_metadata, prepare, swap
from hub.storage.schema import StaleTablesError
from hub.team.store import TeamStore

# The tables as the previous version made them (their primary keys without the organisation).
OLD = {
    "alert_recipients": "CREATE TABLE alert_recipients (alert_id VARCHAR(36) NOT NULL, "
    "practitioner_id VARCHAR(250) NOT NULL, routine BOOLEAN NOT NULL, escalation BOOLEAN NOT NULL, "
    "PRIMARY KEY (alert_id, practitioner_id))",
    "taf_items": "CREATE TABLE taf_items (subject_key VARCHAR(250) NOT NULL, "
    "item_id VARCHAR(600) NOT NULL, kind VARCHAR(30) NOT NULL, category VARCHAR(50) NOT NULL, "
    "controller VARCHAR(50) NOT NULL, practitioner_id VARCHAR(250), body TEXT NOT NULL, "
    "PRIMARY KEY (subject_key, item_id))",
    "alert_people": "CREATE TABLE alert_people (group_key VARCHAR(250) NOT NULL, "
    "subject_key VARCHAR(250) NOT NULL, nhs_number VARCHAR(10), given_name VARCHAR(200), "
    "family_name VARCHAR(200), birth_date DATE, PRIMARY KEY (group_key, subject_key))",
}


def _make_old(engine: Engine, table: str) -> None:
    with engine.begin() as connection:
        connection.execute(text(f"DROP TABLE {table}"))
        connection.execute(text(OLD[table]))


@pytest.mark.parametrize(
    ("table", "start", "command"),
    [
        ("alert_recipients", "alerts", "hub replay missed_appointment_alerts"),
        ("taf_items", "team", "hub replay team_around_the_family"),
        ("alert_people", "alerts", "hub replay missed_appointment_alerts"),
    ],
)
def test_a_table_of_the_earlier_shape_is_refused_with_the_remedy(
    sql_engine: Engine, table: str, start: str, command: str
) -> None:
    _make_old(sql_engine, table)
    store = MissedAppointmentStore(sql_engine) if start == "alerts" else TeamStore(sql_engine)
    with pytest.raises(StaleTablesError) as refused:
        store.create_schema()
    assert table in str(refused.value)
    assert command in str(refused.value)
    if table == "alert_people":
        assert "missing language" in str(refused.value)


def test_the_rebuilds_swap_replaces_an_old_table(sql_engine: Engine) -> None:
    _make_old(sql_engine, "alert_recipients")
    fresh = alert_tables(generation_metadata(), REBUILD)
    prepare(sql_engine, PROJECTION + REBUILD, fresh)
    assert swap(sql_engine, PROJECTION, LIVE, PROJECTION + REBUILD, fresh) == []
    MissedAppointmentStore(sql_engine).create_schema()  # the live tables are today's now
