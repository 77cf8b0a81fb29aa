"""SQL storage of the team-around-the-family projection (SQLite by default, PostgreSQL by URL).

Written only through :meth:`TeamStore.apply`, one log entry per transaction with the log position
(:func:`hub.storage.positions.apply_at_position`), so at-least-once delivery has
exactly-once effects. Items are stored as JSON bodies keyed by subject and item id: a view always
needs all of a person's items, never a column of them. Two columns are pulled out to be
searched: ``practitioner_id`` (a practitioner's caseload) and, in ``taf_item_refs``, the other
people an item names (so erasing a person also removes a relationship or birth that names them).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import NamedTuple

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
    insert,
    select,
)

from hub.erasure.sealing import Erasure, LogEntry
from hub.events import DataCategory
from hub.practitioners import PractitionerRef
from hub.storage.positions import apply_at_position, next_offset, positions
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


class TeamStore:
    """Each person's team-around-the-family items."""

    def __init__(
        self, engine: Engine, *, tables: TeamTables = LIVE, projection: str = PROJECTION
    ) -> None:
        """``tables`` and ``projection`` (its name in the log positions) choose a generation:
        the live one unless ``hub replay`` builds another (ADR 0015)."""
        self._engine = engine
        self._t = tables
        self._projection = projection

    def create_schema(self) -> None:
        """This generation's tables and the log positions, named here (whatever else the
        process has imported)."""
        create_tables(self._engine, positions, *self._t)
        require_current(self._engine, self._t, rebuild_with=f"hub replay {self._projection}")

    def next_offset(self, topic: str, partition: int) -> int | None:
        with self._engine.connect() as connection:
            return next_offset(connection, self._projection, topic, partition)

    def apply(
        self,
        topic: str,
        partition: int,
        offset: int,
        entry: LogEntry | None,
        key: bytes | None = None,
    ) -> bool:
        """Apply one log entry (``None``: dead-lettered or unreadable, only the position moves).

        False when the entry had already been applied.
        """
        if entry is None:
            return apply_at_position(self._engine, self._projection, topic, partition, offset, None)

        def write(connection: Connection) -> None:
            if isinstance(entry, Erasure):
                _erase(connection, self._t, entry.subjects)
                return
            _, changed = fold(_load(connection, self._t, entry.subject_key()), entry)
            for item in changed:
                _save(connection, self._t, entry.subject_key(), item)

        return apply_at_position(self._engine, self._projection, topic, partition, offset, write)

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


def _load(connection: Connection, t: TeamTables, key: str) -> TeamState:
    rows = connection.execute(select(t.items).where(t.items.c.subject_key == key)).mappings()
    items = {row["item_id"]: _item(row) for row in rows}
    return TeamState(subject_key=key, items=items) if items else empty_state(key)


def _item(row: RowMapping) -> TeamItem:
    return TeamItem(
        item_id=row["item_id"],
        category=DataCategory(row["category"]),
        controller=row["controller"],
        body=BODY.validate_json(row["body"]),
    )


def _save(connection: Connection, t: TeamTables, key: str, item: TeamItem) -> None:
    """Replace one item and the references it makes (delete + insert: one item, one row)."""
    same = (t.items.c.subject_key == key) & (t.items.c.item_id == item.item_id)
    connection.execute(delete(t.items).where(same))
    connection.execute(
        delete(t.refs).where((t.refs.c.subject_key == key) & (t.refs.c.item_id == item.item_id))
    )
    body = item.body
    connection.execute(
        insert(t.items).values(
            subject_key=key,
            item_id=item.item_id,
            kind=item.kind,
            category=item.category.value,
            controller=item.controller,
            # only a current involvement puts the person on the practitioner's caseload
            practitioner_organisation=(
                body.organisation_code if isinstance(body, Involvement) and body.active else None
            ),
            practitioner_id=(
                body.practitioner_id if isinstance(body, Involvement) and body.active else None
            ),
            body=BODY.dump_json(body).decode(),
        )
    )
    refs = sorted(set(item.refs()))
    if refs:
        connection.execute(
            insert(t.refs),
            [{"subject_key": key, "item_id": item.item_id, "ref_key": ref} for ref in refs],
        )


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
