"""SQL storage of the error queue: the store the worker folds refusals into and the engineer's
record of what was done with each (the tables and which of them a rebuild may delete are in
:mod:`hub.errorqueue.tables`).

The folded tables are written only through :meth:`QuarantineStore.apply_batch`: one partition's
batch in one transaction with its log position
(:func:`hub.storage.positions.apply_batch_at_position`), the batch's items read in one query,
folded in memory (:func:`hub.errorqueue.fold.fold`) and written back with one statement per
table (issue 19, ADR 0026). The engineer's record is never deleted by a rebuild; it is purged
with the item by retention or erasure (ADR 0030).
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, Engine, delete, select

from hub.erasure.sealing import Erasure, LogEntry
from hub.errorqueue.fold import (
    EVERYTHING,
    PROJECTION,
    Channel,
    FieldError,
    Filter,
    Item,
    LogPlace,
    Refusal,
    Status,
    fold,
    item_id_of,
    part_of,
)
from hub.errorqueue.tables import (
    DEAD_LETTER_PROJECTION,
    actions_table,
    corrections_table,
    inputs_table,
    items_table,
    metadata,
)
from hub.storage.bulk import upsert_many
from hub.storage.positions import (
    BatchEntry,
    apply_batch_at_position,
    chunks,
    next_offset,
    positions,
    upsert,
)
from hub.storage.schema import create_tables


@dataclass(frozen=True)
class Action:
    """What was last done with an item; an item nobody acted on is open."""

    status: Status
    by_organisation: str | None
    by_user: str | None
    at: datetime
    note: str | None = None
    replays: int = 0
    replay_errors: tuple[FieldError, ...] = ()


@dataclass(frozen=True)
class Correction:
    correction_id: uuid.UUID
    item_id: uuid.UUID
    at: datetime
    by_organisation: str | None
    by_user: str
    why: str
    sealed: bytes
    key_ids: tuple[str, ...] = ()


@dataclass(frozen=True)
class Entry:
    """An item with what was done with it: what the queue lists."""

    item: Item
    action: Action | None

    @property
    def status(self) -> Status:
        return Status.OPEN if self.action is None else self.action.status

    @property
    def errors(self) -> tuple[FieldError, ...]:
        """The latest errors: the last replay's where it still failed, else the refusal's."""
        if self.action is not None and self.action.replay_errors:
            return self.action.replay_errors
        return self.item.errors


# Which organisation owns a source system (None: unknown): the sources' and partners' config.
OrganisationOf = Callable[[str | None], str | None]


class QuarantineStore:
    """The refused inputs and what engineers did with them."""

    def __init__(
        self, engine: Engine, organisation_of: OrganisationOf, *, projection: str = PROJECTION
    ) -> None:
        self._engine = engine
        self._organisation_of = organisation_of
        self._projection = projection

    @property
    def engine(self) -> Engine:
        return self._engine

    def of_dead_letters(self) -> QuarantineStore:
        """The same tables under the dead-letter topic's projection name."""
        return QuarantineStore(
            self._engine, self._organisation_of, projection=DEAD_LETTER_PROJECTION
        )

    def create_schema(self) -> None:
        create_tables(self._engine, positions, metadata)

    def next_offset(self, topic: str, partition: int) -> int | None:
        with self._engine.connect() as connection:
            return next_offset(connection, self._projection, topic, partition)

    # -- the fold --------------------------------------------------------------------------

    def apply(
        self,
        topic: str,
        partition: int,
        offset: int,
        entry: Refusal | None,
        key: bytes | None = None,
        /,
    ) -> bool:
        return self.apply_batch(topic, partition, [BatchEntry(offset, entry, key)]) == 1

    def apply_batch(
        self, topic: str, partition: int, entries: Sequence[BatchEntry[Refusal]], /
    ) -> int:
        """One partition's entries in one transaction with the position: the items they touch
        read in one query, folded in order, written with one statement per table."""

        def write(connection: Connection, fresh: Sequence[BatchEntry[Refusal]]) -> None:
            refusals = [e.entry for e in fresh if e.entry is not None]
            if not refusals:
                return
            wanted = sorted({str(item_id_of(r.record)) for r in refusals})
            items = _items(connection, wanted)
            inputs: dict[tuple[str, int], bytes] = {}
            for refusal in refusals:
                item_id = str(item_id_of(refusal.record))
                organisation = self._organisation_of(refusal.record.source_system)
                items[item_id] = fold(items.get(item_id), refusal, organisation)
                part = part_of(refusal.record)
                inputs[(item_id, 1 if part is None else part[0])] = refusal.sealed
            upsert_many(connection, items_table, ["item_id"], map(_row, items.values()))
            upsert_many(
                connection,
                inputs_table,
                ["item_id", "part"],
                (
                    {"item_id": item_id, "part": part, "sealed": sealed}
                    for (item_id, part), sealed in inputs.items()
                ),
            )

        return apply_batch_at_position(
            self._engine, self._projection, topic, partition, entries, write
        )

    # -- reads -----------------------------------------------------------------------------

    def entries(self, wanted: Filter = EVERYTHING) -> list[Entry]:
        """Every item the filter takes, last seen first."""
        query = select(items_table).order_by(items_table.c.last_seen.desc(), items_table.c.item_id)
        if wanted.channel is not None:
            query = query.where(items_table.c.channel == wanted.channel.value)
        if wanted.source is not None:
            query = query.where(items_table.c.source_system == wanted.source)
        if wanted.organisation is not None:
            query = query.where(items_table.c.organisation == wanted.organisation)
        with self._engine.connect() as connection:
            items = [_item(row) for row in connection.execute(query).mappings()]
            actions = _actions(connection, [str(i.item_id) for i in items])
        found = [Entry(item, actions.get(str(item.item_id))) for item in items]
        return [entry for entry in found if wanted.takes(entry.item, entry.status)]

    def entry(self, item_id: uuid.UUID) -> Entry | None:
        with self._engine.connect() as connection:
            items = _items(connection, [str(item_id)])
            actions = _actions(connection, [str(item_id)])
        item = items.get(str(item_id))
        return None if item is None else Entry(item, actions.get(str(item_id)))

    def sealed_parts(self, item_id: uuid.UUID) -> list[bytes]:
        """The item's sealed input, part by part."""
        with self._engine.connect() as connection:
            rows = connection.execute(
                select(inputs_table.c.sealed)
                .where(inputs_table.c.item_id == str(item_id))
                .order_by(inputs_table.c.part)
            )
            return [bytes(sealed) for (sealed,) in rows]

    def corrections(self, item_id: uuid.UUID) -> list[Correction]:
        with self._engine.connect() as connection:
            rows = connection.execute(
                select(corrections_table)
                .where(corrections_table.c.item_id == str(item_id))
                .order_by(corrections_table.c.at)
            ).mappings()
            return [
                Correction(
                    uuid.UUID(row["correction_id"]),
                    uuid.UUID(row["item_id"]),
                    datetime.fromisoformat(row["at"]),
                    row["by_organisation"],
                    row["by_user"],
                    row["why"],
                    bytes(row["sealed"]),
                    tuple(json.loads(row["key_ids"] or "[]")),
                )
                for row in rows
            ]

    def counts(self) -> dict[tuple[str, str, str, str], int]:
        """Items by (channel, source system, reason, status) for ``/metrics``; the reason is
        the first error's location (``AIL-3.1``, ``nhs_number``): a bounded set, where the
        reason's text is not. Empty before the tables exist."""
        found: dict[tuple[str, str, str, str], int] = {}
        with self._engine.connect() as connection:
            if not self._engine.dialect.has_table(connection, items_table.name):
                return found
            rows = connection.execute(
                select(
                    items_table.c.channel,
                    items_table.c.source_system,
                    items_table.c.errors,
                    actions_table.c.status,
                ).select_from(
                    items_table.outerjoin(
                        actions_table, actions_table.c.item_id == items_table.c.item_id
                    )
                )
            )
            for channel, source, errors, status in rows:
                first = json.loads(errors or "[]")
                reason = first[0][0] if first else "-"
                key = (channel, source or "-", reason, status or Status.OPEN.value)
                found[key] = found.get(key, 0) + 1
        return found

    # -- the engineer's record -------------------------------------------------------------

    def record_action(self, item_id: uuid.UUID, action: Action) -> None:
        with self._engine.begin() as connection:
            upsert(
                connection,
                actions_table,
                {"item_id": str(item_id)},
                {
                    "status": action.status.value,
                    "by_organisation": action.by_organisation,
                    "by_user": action.by_user,
                    "at": iso(action.at),
                    "note": action.note,
                    "replays": action.replays,
                    "replay_errors": _errors_json(action.replay_errors),
                },
            )

    def record_correction(self, correction: Correction) -> None:
        with self._engine.begin() as connection:
            connection.execute(
                corrections_table.insert().values(
                    correction_id=str(correction.correction_id),
                    item_id=str(correction.item_id),
                    at=iso(correction.at),
                    by_organisation=correction.by_organisation,
                    by_user=correction.by_user,
                    why=correction.why,
                    sealed=correction.sealed,
                    key_ids=json.dumps(list(correction.key_ids)),
                )
            )

    # -- purges ----------------------------------------------------------------------------

    def purge(self, item_ids: Iterable[uuid.UUID]) -> int:
        """Delete items and everything recorded about them; how many items there were."""
        wanted = sorted({str(i) for i in item_ids})
        removed = 0
        with self._engine.begin() as connection:
            for chunk in chunks(wanted):
                for table in (inputs_table, actions_table, corrections_table):
                    connection.execute(delete(table).where(table.c.item_id.in_(chunk)))
                removed += connection.execute(
                    delete(items_table).where(items_table.c.item_id.in_(chunk))
                ).rowcount
        return removed

    def forget_erased(
        self,
        topic: str,
        partition: int,
        offset: int,
        entry: LogEntry | None,
        key: bytes | None = None,
        /,
    ) -> bool:
        """On the family topic, after the projections: an erasure marker deletes every item
        sealed with the destroyed key, with what was recorded about it (the sealed bytes could
        not be read again anyway; now no row of them is left). Idempotent: no position."""
        if not isinstance(entry, Erasure):
            return False
        self.purge(self.sealed_with([entry.key_id]))
        return True

    def last_seen_before(self, cutoff: datetime) -> list[uuid.UUID]:
        with self._engine.connect() as connection:
            rows = connection.execute(
                select(items_table.c.item_id).where(items_table.c.last_seen < iso(cutoff))
            )
            return [uuid.UUID(item_id) for (item_id,) in rows]

    def sealed_with(self, key_ids: Iterable[str]) -> list[uuid.UUID]:
        """Items whose input, or a corrected copy of it, is sealed with any of ``key_ids`` (an
        erased person's)."""
        wanted = set(key_ids)
        with self._engine.connect() as connection:
            items = connection.execute(select(items_table.c.item_id, items_table.c.key_ids))
            copies = connection.execute(
                select(corrections_table.c.item_id, corrections_table.c.key_ids)
            )
            return sorted(
                {
                    uuid.UUID(item_id)
                    for item_id, keys in [*items, *copies]
                    if wanted.intersection(json.loads(keys or "[]"))
                }
            )


def iso(at: datetime) -> str:
    """A time as the tables keep it: UTC, to the microsecond, so text order is time order."""
    return at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f+00:00")


def _errors_json(errors: Sequence[FieldError]) -> str:
    return json.dumps([[e.location, e.message] for e in errors])


def _errors_of(text: str | None) -> tuple[FieldError, ...]:
    return tuple(FieldError(loc, msg) for loc, msg in json.loads(text or "[]"))


def _row(item: Item) -> dict[str, Any]:
    place = item.failed_at
    return {
        "item_id": str(item.item_id),
        "channel": item.channel.value,
        "received_as": item.received_as,
        "source_system": item.source_system,
        "organisation": item.organisation,
        "content_type": item.content_type,
        "reason": item.reason,
        "errors": _errors_json(item.errors),
        "first_seen": iso(item.first_seen),
        "last_seen": iso(item.last_seen),
        "times": item.times,
        "parts": item.parts,
        "failed_topic": place.topic if place else None,
        "failed_partition": place.partition if place else None,
        "failed_offset": place.offset if place else None,
        "key_ids": json.dumps(list(item.key_ids)),
    }


def _item(row: Any) -> Item:
    place = (
        LogPlace(row["failed_topic"], row["failed_partition"], row["failed_offset"])
        if row["failed_topic"] is not None
        else None
    )
    return Item(
        item_id=uuid.UUID(row["item_id"]),
        channel=Channel(row["channel"]),
        received_as=row["received_as"],
        source_system=row["source_system"],
        organisation=row["organisation"],
        content_type=row["content_type"],
        reason=row["reason"],
        errors=_errors_of(row["errors"]),
        first_seen=datetime.fromisoformat(row["first_seen"]),
        last_seen=datetime.fromisoformat(row["last_seen"]),
        times=row["times"],
        parts=row["parts"],
        failed_at=place,
        key_ids=tuple(json.loads(row["key_ids"])),
    )


def _items(connection: Connection, wanted: Sequence[str]) -> dict[str, Item]:
    found: dict[str, Item] = {}
    for chunk in chunks(wanted):
        rows = connection.execute(select(items_table).where(items_table.c.item_id.in_(chunk)))
        found.update({row["item_id"]: _item(row) for row in rows.mappings()})
    return found


def _actions(connection: Connection, wanted: Sequence[str]) -> dict[str, Action]:
    found: dict[str, Action] = {}
    for chunk in chunks(wanted):
        rows = connection.execute(
            select(actions_table).where(actions_table.c.item_id.in_(chunk))
        ).mappings()
        for row in rows:
            found[row["item_id"]] = Action(
                Status(row["status"]),
                row["by_organisation"],
                row["by_user"],
                datetime.fromisoformat(row["at"]),
                row["note"],
                row["replays"] or 0,
                _errors_of(row["replay_errors"]),
            )
    return found
