"""SQL storage of the team-around-the-family projection (SQLite by default, PostgreSQL by URL).

Written only through :meth:`TeamStore.apply_parts` (``apply_batch`` is one part of it), a batch
of one or several partitions' entries per transaction with the log positions, folded in one
pass (:func:`hub.storage.positions.apply_parts_folded`, ADR 0039), so
at-least-once delivery has exactly-once effects: the items of every person the batch is about
read in one query, folded in memory in order, the changed items written at the end with one
statement per table (issue 19, ADR 0026). An erasure writes what is pending first and the items
are read again after it (it deletes items of others that name the erased). A refused entry
(``ValueError``) is collected and the batch refused with all of them, in its transaction.

Items are stored as JSON bodies keyed by subject and item id: a view always
needs all of a person's items, never a column of them. Two columns are pulled out to be
searched: ``practitioner_id`` (a practitioner's caseload) and, in ``taf_item_refs``, the other
people an item names (so erasing a person also removes a relationship or birth that names them).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any, NamedTuple

from sqlalchemy import (
    Column,
    Connection,
    Engine,
    MetaData,
    RowMapping,
    String,
    Table,
    Text,
    delete,
    select,
)

from hub.erasure.sealing import Erasure, LogEntry, subjects_before_erasure
from hub.practitioners import PractitionerRef
from hub.storage.among import among
from hub.storage.bulk import delete_rows, insert_rows
from hub.storage.folded import FoldedStore
from hub.storage.positions import (
    BatchEntry,
    chunks,
    positions,
)
from hub.storage.schema import create_tables, require_current
from hub.team.fold import (
    BODY,
    PROJECTION,
    Involvement,
    TeamItem,
    TeamState,
    empty_state,
    fold,
)
from hub.vocabulary import DataCategory


class TeamTables(NamedTuple):
    """One generation of the projection's tables (ADR 0015)."""

    items: Table
    refs: Table


def team_tables(metadata: MetaData, suffix: str = "") -> TeamTables:
    """The tables named ``<live name><suffix>`` on ``metadata``."""
    items = Table(
        f"taf_items{suffix}",
        metadata,
        Column("subject_key", String(250), primary_key=True),
        Column("item_id", String(600), primary_key=True),
        Column("kind", String(30), nullable=False),
        Column("category", String(50), nullable=False),
        Column("controller", String(50), nullable=False),
        # a practitioner's involvement, as (organisation, id): whose caseload it is in
        Column("practitioner_organisation", String(50)),
        Column("practitioner_id", String(250), index=True),
        Column("body", Text, nullable=False),
    )
    refs = Table(
        f"taf_item_refs{suffix}",
        metadata,
        Column("subject_key", String(250), primary_key=True),
        Column("item_id", String(600), primary_key=True),
        Column("ref_key", String(250), primary_key=True, index=True),
    )
    return TeamTables(items, refs)


# The live generation, on the projection's own metadata.
team_metadata = MetaData()
LIVE = team_tables(team_metadata)
items_table, refs_table = LIVE


class TeamStore(FoldedStore[LogEntry]):
    """Each person's team-around-the-family items."""

    def __init__(
        self, engine: Engine, *, tables: TeamTables = LIVE, projection: str = PROJECTION
    ) -> None:
        """``tables`` and ``projection`` (its name in the log positions) choose a generation:
        the live one unless ``hub replay`` builds another (ADR 0015)."""
        super().__init__(engine, projection)
        self._t = tables

    def create_schema(self) -> None:
        """This generation's tables and the log positions, named here (whatever else the
        process has imported)."""
        create_tables(self._engine, positions, *self._t)
        require_current(self._engine, self._t, rebuild_with=f"hub replay {self._projection}")

    def fold_batch(
        self, connection: Connection, topic: str, fresh: Sequence[tuple[int, BatchEntry[LogEntry]]]
    ) -> dict[int, str]:
        return _fold_batch(connection, self._t, [item for _, item in fresh])

    # -- reads -----------------------------------------------------------------------------

    def items_of(self, keys: Iterable[str]) -> dict[str, list[TeamItem]]:
        """Every item stored under each of ``keys`` (a person's identifier keys), by key."""
        wanted = sorted(set(keys))
        found: dict[str, list[TeamItem]] = {key: [] for key in wanted}
        if not wanted:
            return found
        with self._engine.connect() as connection:
            rows = connection.execute(
                select(self._t.items)
                .where(self._t.items.c.subject_key.in_(wanted))
                .order_by(self._t.items.c.subject_key, self._t.items.c.item_id)
            ).mappings()
            for row in rows:
                found[row["subject_key"]].append(_item(row))
        return found

    def subjects_involving(self, practitioner: PractitionerRef) -> list[str]:
        """The identifier keys a practitioner has been assigned to (their caseload's people)."""
        with self._engine.connect() as connection:
            rows = connection.execute(
                select(self._t.items.c.subject_key)
                .where(
                    (self._t.items.c.practitioner_organisation == practitioner.organisation_code)
                    & (self._t.items.c.practitioner_id == practitioner.practitioner_id)
                )
                .distinct()
                .order_by(self._t.items.c.subject_key)
            )
            return list(rows.scalars())


def _fold_batch(
    connection: Connection, t: TeamTables, fresh: Sequence[BatchEntry[LogEntry]]
) -> dict[int, str]:
    """Fold the fresh entries on the people's items in memory, write the changed items at the
    end (and before each erasure); what the fold refused (by index in ``fresh``), and nothing
    more written, for the caller to refuse the batch."""
    states: dict[str, TeamState] = {}
    changed: dict[tuple[str, str], TeamItem] = {}  # the last of each (person, item)
    refused: dict[int, str] = {}
    for index, item in enumerate(fresh):
        entry = item.entry
        if entry is None:
            continue
        if isinstance(entry, Erasure):
            _save_all(connection, t, changed)
            changed.clear()
            _erase(connection, t, entry.subjects)
            states.clear()  # it deleted items of others that named them: read them again
            continue
        try:
            key = entry.subject_key()
            if key not in states:  # the people of the run up to the next erasure, at once
                states.update(
                    _load(
                        connection,
                        t,
                        subjects_before_erasure(i.entry for i in fresh[index:]) - states.keys(),
                    )
                )
            state, items = fold(states[key], entry)
        except ValueError as error:
            refused[index] = str(error)
            continue
        states[key] = state
        changed.update({(key, i.item_id): i for i in items})
    if refused:
        return refused  # the caller refuses the batch in its transaction: it rolls back
    _save_all(connection, t, changed)
    return {}


def _load(connection: Connection, t: TeamTables, keys: Iterable[str]) -> dict[str, TeamState]:
    """Each person's items (an empty state for one with none), one query for all of them."""
    wanted = sorted(set(keys))
    items: dict[str, dict[str, TeamItem]] = {key: {} for key in wanted}
    for chunk in chunks(wanted):
        rows = connection.execute(
            select(t.items).where(among(connection, t.items.c.subject_key, chunk))
        )
        for row in rows.mappings():
            items[row["subject_key"]][row["item_id"]] = _item(row)
    return {
        key: TeamState(subject_key=key, items=found) if found else empty_state(key)
        for key, found in items.items()
    }


def _item(row: RowMapping) -> TeamItem:
    return TeamItem(
        item_id=row["item_id"],
        category=DataCategory(row["category"]),
        controller=row["controller"],
        body=BODY.validate_json(row["body"]),
    )


def _save_all(
    connection: Connection, t: TeamTables, changed: dict[tuple[str, str], TeamItem]
) -> None:
    """Replace the changed items and the references they make: one delete and one insert per
    table over all of them (:mod:`hub.storage.bulk`)."""
    if not changed:
        return
    same = [{"subject_key": key, "item_id": item_id} for key, item_id in changed]
    for table in (t.items, t.refs):
        delete_rows(connection, table, same)
    insert_rows(connection, t.items, [_row(key, item) for (key, _), item in changed.items()])
    insert_rows(
        connection,
        t.refs,
        [
            {"subject_key": key, "item_id": item.item_id, "ref_key": ref}
            for (key, _), item in changed.items()
            for ref in sorted(set(item.refs()))
        ],
    )


def _row(key: str, item: TeamItem) -> dict[str, Any]:
    body = item.body
    # only a current involvement puts the person on the practitioner's caseload
    involved = body if isinstance(body, Involvement) and body.active else None
    return {
        "subject_key": key,
        "item_id": item.item_id,
        "kind": item.kind,
        "category": item.category.value,
        "controller": item.controller,
        "practitioner_organisation": involved.organisation_code if involved else None,
        "practitioner_id": involved.practitioner_id if involved else None,
        "body": BODY.dump_json(body).decode(),
    }


def _erase(connection: Connection, t: TeamTables, subjects: Sequence[str]) -> None:
    """Delete the erased subjects' items, and every item of others that names them."""
    if not subjects:
        return
    naming = connection.execute(
        select(t.refs.c.subject_key, t.refs.c.item_id).where(t.refs.c.ref_key.in_(subjects))
    ).all()
    for key, item_id in naming:
        for table in (t.items, t.refs):
            connection.execute(
                delete(table).where((table.c.subject_key == key) & (table.c.item_id == item_id))
            )
    connection.execute(delete(t.refs).where(t.refs.c.subject_key.in_(subjects)))
    connection.execute(delete(t.items).where(t.items.c.subject_key.in_(subjects)))
