"""The person index and families in SQL: a projection of the case-event stream.

Every event's subject is matched (:func:`hub.identity.matching.resolve`); merges, unmerges,
relationships and births change links and families. All of it in one transaction with the log
position, like every projection (ADR 0004): a batch per transaction (issue 19, ADR 0026/0027).
The index reads its own writes (who an identifier is decides where the next event about it
goes), so the entries are folded one after another on the index as the batch leaves it: an
in-memory overlay of the batch's rows (:mod:`hub.identity.overlay`, ADR 0044), read in a few
queries before the first entry and written in bulk after the last. This module is the SQL
shell around it: the tables, the overlay's reads and writes, erasure, and the reads others use.

Reads answer "which hub person is this identifier", "which identifiers does this person have" (so
projections keyed by identifier follow merges) and "who is in this family".
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any, Final
from weakref import WeakKeyDictionary

from sqlalchemy import (
    Column,
    Connection,
    Date,
    DateTime,
    Engine,
    MetaData,
    String,
    Table,
    delete,
    select,
    update,
)

from hub.erasure.sealing import Erasure, LogEntry
from hub.events import CaseEvent
from hub.identity.families import FamilyMember, family_key_for, first_family
from hub.identity.matching import DEFAULT_RULE, Demographics, ReviewTask
from hub.identity.overlay import IndexOverlay, fold
from hub.storage.among import among
from hub.storage.bulk import insert_missing, upsert_many
from hub.storage.positions import (
    AfterPart,
    BatchEntry,
    PoisonEntriesError,
    apply_one,
    apply_parts_at_positions,
    chunks,
    next_offset,
    positions,
)
from hub.storage.schema import create_tables

IDENTITY_PROJECTION: Final = "identity"
_CHUNK: Final = 500  # identifiers per statement of a bulk read (bound-parameter limits)

# The person index's own tables, created by :meth:`IdentityStore.create_schema`.
identity_metadata = MetaData()

links_table = Table(
    "identity_links",
    identity_metadata,
    Column("identifier_key", String(300), primary_key=True),
    Column("person_id", String(36), nullable=False, index=True),
)
demographics_table = Table(
    "identity_demographics",
    identity_metadata,
    Column("person_id", String(36), primary_key=True),
    Column("blocking_key", String(400), index=True),
    Column("given_name", String(200)),
    Column("family_name", String(200)),
    Column("birth_date", Date),
    Column("postcode", String(20)),
)
reviews_table = Table(
    "identity_reviews",
    identity_metadata,
    Column("review_id", String(36), primary_key=True),
    Column("person_id", String(36), nullable=False),
    Column("candidate_id", String(36), nullable=False),
    Column("reason", String(300), nullable=False),
    Column("status", String(20), nullable=False),  # OPEN, LINKED, DISTINCT
    Column("resolved_by", String(200)),
    Column("resolved_at", DateTime(timezone=True)),
)
members_table = Table(
    "family_members",
    identity_metadata,
    Column("family_id", String(36), primary_key=True),  # the family key (older column name)
    Column("person_id", String(36), primary_key=True, index=True),
    Column("relationship", String(30), nullable=False),
    Column("expected_delivery_date", Date),
)


class IdentityStore:
    def __init__(self, engine: Engine, rule: tuple[str, ...] = DEFAULT_RULE) -> None:
        self._engine = engine
        self._rule = rule

    def create_schema(self) -> None:
        """The index's tables and the log positions, named here (whatever else the process has
        imported)."""
        create_tables(self._engine, positions, identity_metadata)

    def next_offset(self, topic: str, partition: int) -> int | None:
        with self._engine.connect() as connection:
            return next_offset(connection, IDENTITY_PROJECTION, topic, partition)

    def apply(
        self,
        topic: str,
        partition: int,
        offset: int,
        event: LogEntry | None,
        key: bytes | None = None,
    ) -> bool:
        one: BatchEntry[LogEntry] = BatchEntry(offset, event, key)
        return apply_one(self.apply_batch, topic, partition, one)

    def apply_batch(
        self, topic: str, partition: int, entries: Sequence[BatchEntry[LogEntry]], /
    ) -> int:
        """Apply one partition's entries in one transaction with the position; how many were
        applied (not skipped).

        A refused entry (``ValueError``) refuses the batch at once, naming it alone: what it
        wrote before refusing is in this transaction, and every later entry would be matched
        on those rows, so none of them is decided here; the second pass, without it, goes on.
        One part of :meth:`apply_parts`, so the worker, ``hub replay`` and :meth:`apply` keep
        one write path.
        """
        return self.apply_parts(topic, [(partition, entries)])

    def apply_parts(
        self,
        topic: str,
        parts: Sequence[tuple[int, Sequence[BatchEntry[LogEntry]]]],
        after_part: AfterPart | None = None,
        /,
    ) -> int:
        """:meth:`apply_batch` for a batch of several partitions' parts, applied in the order
        given in one transaction with every position (the worker cuts the person index's batch
        before each entry that may re-key others, ADR 0010); ``after_part`` runs after each
        part, in the transaction: :func:`family_keys_in` on its connection answers as the part
        left the index. A refusal names its partition and refuses the whole batch, as in
        :meth:`apply_batch`.

        The batch is folded on an :class:`~hub.identity.overlay.IndexOverlay` (ADR 0044): what
        every part will touch read at once before the first, each entry matched and placed in
        memory, and every row the batch wrote written in bulk at the end, before the
        positions. An erasure writes what is pending, deletes in SQL and starts the overlay
        anew (without the erased keys)."""
        events = [
            item.entry
            for _, entries in parts
            for item in entries
            if isinstance(item.entry, CaseEvent)
        ]

        def write(
            connection: Connection, partition: int, fresh: Sequence[BatchEntry[LogEntry]]
        ) -> None:
            overlay = _OVERLAYS.get(connection)
            if overlay is None:  # the transaction's first part (a retry's too: a new one)
                overlay = self._overlay_on(connection, events, ())
            for item in fresh:
                try:
                    if isinstance(item.entry, Erasure):
                        _write_pending(connection, overlay)
                        _erase(connection, item.entry.subjects)
                        overlay = self._overlay_on(connection, events, item.entry.subjects)
                    elif item.entry is not None:
                        fold(overlay, item.entry)
                except ValueError as error:
                    raise PoisonEntriesError({item.offset: str(error)}, partition) from error

        def finish(connection: Connection) -> None:
            overlay = _OVERLAYS.pop(connection, None)
            if overlay is not None:
                _write_pending(connection, overlay)

        return apply_parts_at_positions(
            self._engine, IDENTITY_PROJECTION, topic, parts, write, after_part, finish
        )

    def _overlay_on(
        self, connection: Connection, events: Sequence[CaseEvent], erased: Sequence[str]
    ) -> IndexOverlay:
        """A new overlay for the transaction, the batch's rows read at once; after an erasure
        ``erased`` are left out, so no key of an erased subject is read back into memory."""
        overlay = IndexOverlay(_SqlRows(connection), self._rule)
        overlay.preload(events, excluding=erased)
        _OVERLAYS[connection] = overlay
        return overlay

    # -- reads -----------------------------------------------------------------------------

    def person_of(self, key: str) -> str | None:
        with self._engine.connect() as connection:
            return _person(connection, key)

    def keys_of(self, person_id: str) -> list[str]:
        with self._engine.connect() as connection:
            return _keys(connection, person_id)

    def same_person(self, identifier_key: str) -> list[str]:
        """Every identifier key of the person behind ``identifier_key`` (itself included).

        How views keyed by identifier follow merges; an identifier the index does not know
        stands alone.
        """
        with self._engine.connect() as connection:
            person = _person(connection, identifier_key)
            return [identifier_key] if person is None else _keys(connection, person)

    def family_key_of(self, identifier_key: str) -> str | None:
        """The family an identifier's person belongs to, or would anchor (ADR 0010).

        A person in no family yet gets the id of the family that would form around them, so a
        mother's events keep their key when her family forms. None for an unknown identifier.
        """
        with self._engine.connect() as connection:
            person = _person(connection, identifier_key)
            if person is None:
                return None
            return _family(connection, person) or family_key_for(person)

    def family_keys_of(self, identifier_keys: Iterable[str]) -> dict[str, str]:
        """:meth:`family_key_of` of many identifiers in two queries per :data:`_CHUNK` (the
        person index forwards a batch, issue 19); an unknown identifier is left out."""
        with self._engine.connect() as connection:
            return family_keys_in(connection, identifier_keys)

    def family_of(self, person_id: str) -> tuple[str | None, list[FamilyMember]]:
        with self._engine.connect() as connection:
            family = _family(connection, person_id)
            if family is None:
                return None, []
            return family, list(_members(connection, family).values())

    def family_members(self, family_key: str) -> list[FamilyMember]:
        """Who is in a family (empty for a family id the index does not know)."""
        with self._engine.connect() as connection:
            return list(_members(connection, family_key).values())

    def open_reviews(self) -> list[ReviewTask]:
        with self._engine.connect() as connection:
            rows = connection.execute(
                select(reviews_table).where(reviews_table.c.status == "OPEN")
            ).mappings()
            return [
                ReviewTask(r["review_id"], r["person_id"], r["candidate_id"], r["reason"])
                for r in rows
            ]

    def close_review(self, review_id: str, status: str, by: str, at: datetime) -> bool:
        with self._engine.begin() as connection:
            changed = connection.execute(
                update(reviews_table)
                .where(reviews_table.c.review_id == review_id)
                .values(status=status, resolved_by=by, resolved_at=at)
            )
            return changed.rowcount > 0


def family_keys_in(connection: Connection, identifier_keys: Iterable[str]) -> dict[str, str]:
    """:meth:`IdentityStore.family_keys_of` on ``connection``. Inside the person index's batch
    (:meth:`IdentityStore.apply_parts`) it answers from the batch's overlay, as the parts so far
    left the index (their rows are written at the end of the batch); elsewhere from the rows."""
    overlay = overlay_of(connection)
    if overlay is not None:
        return overlay.family_keys(identifier_keys)
    wanted = sorted(set(identifier_keys))
    families: dict[str, set[str]] = {}
    persons: dict[str, str] = {}
    # One query per chunk, the links joined to their families.
    joined = links_table.outerjoin(
        members_table, members_table.c.person_id == links_table.c.person_id
    )
    for chunk in chunks(wanted, _CHUNK):
        rows = connection.execute(
            select(links_table.c.identifier_key, links_table.c.person_id, members_table.c.family_id)
            .select_from(joined)
            .where(among(connection, links_table.c.identifier_key, chunk))
        )
        for key, person, family in rows:
            persons[key] = person
            held = families.setdefault(key, set())
            if family is not None:
                held.add(family)
    return {
        key: first_family(families[key]) or family_key_for(person)
        for key, person in persons.items()
    }


# The overlay of each transaction the person index is folding a batch in (weak: a transaction's
# connection object is never reused, so an overlay cannot outlive it into another batch).
_OVERLAYS: WeakKeyDictionary[Connection, IndexOverlay] = WeakKeyDictionary()


def overlay_of(connection: Connection) -> IndexOverlay | None:
    """The overlay of the person index's batch ``connection`` is folding, if it is in one."""
    return _OVERLAYS.get(connection)


class _SqlRows:
    """:class:`~hub.identity.overlay.IndexRows` on a transaction: a query per chunk."""

    def __init__(self, connection: Connection) -> None:
        self._connection = connection

    def links_of_keys(self, keys: Sequence[str]) -> Iterable[tuple[str, str]]:
        return self._links(links_table.c.identifier_key, keys)

    def links_of_persons(self, persons: Sequence[str]) -> Iterable[tuple[str, str]]:
        return self._links(links_table.c.person_id, persons)

    def _links(self, column: Any, values: Sequence[str]) -> list[tuple[str, str]]:
        found: list[tuple[str, str]] = []
        for chunk in chunks(values, _CHUNK):
            rows = self._connection.execute(
                select(links_table.c.identifier_key, links_table.c.person_id).where(
                    among(self._connection, column, chunk)
                )
            )
            found.extend((key, person) for key, person in rows)
        return found

    def demographics_with(
        self, blocking_keys: Sequence[str]
    ) -> Iterable[tuple[str, Demographics, str | None]]:
        table = demographics_table
        found: list[tuple[str, Demographics, str | None]] = []
        for chunk in chunks(blocking_keys, _CHUNK):
            rows = self._connection.execute(
                select(table).where(among(self._connection, table.c.blocking_key, chunk))
            )
            found.extend(
                (
                    r.person_id,
                    Demographics(r.given_name, r.family_name, r.birth_date, r.postcode),
                    r.blocking_key,
                )
                for r in rows
            )
        return found

    def memberships_of(self, persons: Sequence[str]) -> Iterable[tuple[str, FamilyMember]]:
        return self._members(members_table.c.person_id, persons)

    def members_of(self, families: Sequence[str]) -> Iterable[tuple[str, FamilyMember]]:
        return self._members(members_table.c.family_id, families)

    def _members(self, column: Any, values: Sequence[str]) -> list[tuple[str, FamilyMember]]:
        found: list[tuple[str, FamilyMember]] = []
        for chunk in chunks(values, _CHUNK):
            rows = self._connection.execute(
                select(members_table).where(among(self._connection, column, chunk))
            )
            found.extend(
                (r.family_id, FamilyMember(r.person_id, r.relationship, r.expected_delivery_date))
                for r in rows
            )
        return found


def _write_pending(connection: Connection, overlay: IndexOverlay) -> None:
    """Everything the batch's overlay wrote since it was last asked: one bulk statement per
    table (links, demographics and members replaced by key, reviews inserted where new)."""
    pending = overlay.take_pending()
    upsert_many(
        connection,
        links_table,
        ["identifier_key"],
        [{"identifier_key": key, "person_id": person} for key, person in pending.links.items()],
    )
    upsert_many(
        connection,
        demographics_table,
        ["person_id"],
        [
            {
                "person_id": person,
                "blocking_key": blocking,
                "given_name": d.given_name,
                "family_name": d.family_name,
                "birth_date": d.birth_date,
                "postcode": d.postcode,
            }
            for person, (d, blocking) in pending.demographics.items()
        ],
    )
    upsert_many(
        connection,
        members_table,
        ["family_id", "person_id"],
        [
            {
                "family_id": family,
                "person_id": person,
                "relationship": m.relationship,
                "expected_delivery_date": m.expected_delivery_date,
            }
            for (family, person), m in pending.members.items()
        ],
    )
    insert_missing(
        connection,
        reviews_table,
        ["review_id"],
        [
            {
                "review_id": r.review_id,
                "person_id": r.person_id,
                "candidate_id": r.candidate_id,
                "reason": r.reason,
                "status": "OPEN",
            }
            for r in pending.reviews.values()
        ],
    )


def _person(connection: Connection, key: str) -> str | None:
    return connection.execute(
        select(links_table.c.person_id).where(links_table.c.identifier_key == key)
    ).scalar_one_or_none()


def _keys(connection: Connection, person: str) -> list[str]:
    rows = connection.execute(
        select(links_table.c.identifier_key).where(links_table.c.person_id == person)
    )
    return sorted(rows.scalars())


def _links(connection: Connection, keys: list[str]) -> dict[str, str]:
    rows = connection.execute(select(links_table).where(links_table.c.identifier_key.in_(keys)))
    found = {r.identifier_key: r.person_id for r in rows}
    persons = set(found.values())
    if persons:  # everything linked with those persons, so a merge moves all of it
        rows = connection.execute(select(links_table).where(links_table.c.person_id.in_(persons)))
        found.update({r.identifier_key: r.person_id for r in rows})
    return found


def _family(connection: Connection, person: str) -> str | None:
    """A person's family (:func:`~hub.identity.families.first_family` of several)."""
    return connection.execute(
        select(members_table.c.family_id)
        .where(members_table.c.person_id == person)
        .order_by(members_table.c.family_id)
        .limit(1)
    ).scalar_one_or_none()


def _members(connection: Connection, family: str) -> dict[str, FamilyMember]:
    rows = connection.execute(select(members_table).where(members_table.c.family_id == family))
    return {
        r.person_id: FamilyMember(r.person_id, r.relationship, r.expected_delivery_date)
        for r in rows
    }


def _erase(connection: Connection, subjects: Sequence[str]) -> None:
    """Unlink erased identifiers; a person left with none is deleted with their family ties."""
    persons = set(_links(connection, list(subjects)).values())
    connection.execute(delete(links_table).where(links_table.c.identifier_key.in_(subjects)))
    for person in persons:
        if _keys(connection, person):
            continue  # other identifiers remain; their own markers will follow
        connection.execute(
            delete(demographics_table).where(demographics_table.c.person_id == person)
        )
        connection.execute(delete(members_table).where(members_table.c.person_id == person))
        connection.execute(
            delete(reviews_table).where(
                (reviews_table.c.person_id == person) | (reviews_table.c.candidate_id == person)
            )
        )
