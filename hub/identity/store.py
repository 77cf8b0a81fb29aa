"""The person index and families in SQL: a projection of the case-event stream.

Every event's subject is matched (:func:`hub.identity.matching.resolve`); merges, unmerges,
relationships and births change links and families. All of it in one transaction with the log
position, like every projection (ADR 0004): a batch of one partition's entries per transaction
(issue 19, ADR 0026). The index reads its own writes (who an identifier is decides where the next
event about it goes), so the entries are matched one after another on the rows as the batch
leaves them, in its transaction; the gain is one transaction and one position write per batch.

Reads answer "which hub person is this identifier", "which identifiers does this person have" (so
projections keyed by identifier follow merges) and "who is in this family".
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Final

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
    insert,
    select,
    update,
)

from hub.erasure.sealing import Erasure, LogEntry
from hub.events import (
    BirthRegistered,
    CaseEvent,
    PersonIdentifier,
    PersonMerged,
    PersonRegistered,
    PersonUnmerged,
    Relationship,
    RelationshipRecorded,
)
from hub.identity.families import FamilyMember, born_child, family_key_for, relate
from hub.identity.link_cache import LinkCache
from hub.identity.matching import (
    DEFAULT_RULE,
    Demographics,
    ReviewTask,
    merge_links,
    new_person_id,
    resolve,
)
from hub.storage.positions import (
    AfterPart,
    BatchEntry,
    PoisonEntriesError,
    apply_batch_at_position,
    apply_one,
    apply_parts_at_positions,
    next_offset,
    positions,
    upsert_many,
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
        self._local = threading.local()  # the current transaction's LinkCache, per thread

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
        """

        def write(connection: Connection, fresh: Sequence[BatchEntry[LogEntry]]) -> None:
            self._write(connection, None, fresh)

        return apply_batch_at_position(
            self._engine, IDENTITY_PROJECTION, topic, partition, entries, write
        )

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
        part, in the transaction (:meth:`family_keys_in` sees the part's writes). A refusal
        names its partition and refuses the whole batch, as in :meth:`apply_batch`."""
        # Every part's subjects read at once, before the first part (a batch of births is
        # hundreds of parts: a read per part was a query per cut); the cache then keeps what
        # each part writes, and reads again after an erasure's forget.
        keys = sorted(
            {
                i.key()
                for _, entries in parts
                for item in entries
                if isinstance(item.entry, CaseEvent)
                for i in item.entry.subject
            }
        )

        loaded: list[LinkCache] = []  # the transaction's cache, once loaded (a retry: anew)

        def write(
            connection: Connection, partition: int, fresh: Sequence[BatchEntry[LogEntry]]
        ) -> None:
            links = self._links_of(connection)
            if links not in loaded:
                links.load(keys)
                loaded[:] = [links]
            self._write(connection, partition, fresh)

        return apply_parts_at_positions(
            self._engine, IDENTITY_PROJECTION, topic, parts, write, after_part
        )

    def _write(
        self, connection: Connection, partition: int | None, fresh: Sequence[BatchEntry[LogEntry]]
    ) -> None:
        """Apply ``fresh`` one after another on the rows as each leaves them, the links read
        through the transaction's :class:`LinkCache` (the batch's subjects loaded at once)."""
        links = self._links_of(connection)
        links.load(
            key
            for item in fresh
            if isinstance(item.entry, CaseEvent)
            for key in (i.key() for i in item.entry.subject)
        )
        for item in fresh:
            try:
                if isinstance(item.entry, Erasure):
                    _erase(connection, item.entry.subjects)
                    links.forget()
                elif item.entry is not None:
                    self._apply(links, item.entry)
            except ValueError as error:
                raise PoisonEntriesError({item.offset: str(error)}, partition) from error

    def _links_of(self, connection: Connection) -> LinkCache:
        """The cache of the transaction ``connection`` is in: kept across the parts of one
        batch, new for every transaction (a retry's too: a new connection)."""
        held: LinkCache | None = getattr(self._local, "links", None)
        if held is None or held.connection is not connection:
            held = self._local.links = LinkCache(connection, links_table)
        return held

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

    # -- the fold's shell --------------------------------------------------------------------

    def _apply(self, links: LinkCache, event: CaseEvent) -> None:
        connection = links.connection
        payload = event.payload
        demographics = None
        if isinstance(payload, PersonRegistered):
            demographics = Demographics(
                payload.given_name, payload.family_name, payload.birth_date, payload.postcode
            )
        person = self._match(links, event.subject, demographics)
        subject_keys = [i.key() for i in event.subject]
        if isinstance(payload, PersonMerged):
            merged = [i.key() for i in payload.merged]
            current = links.of([*subject_keys, *merged])
            links.set(merge_links(subject_keys, merged, current))
        elif isinstance(payload, PersonUnmerged):
            separated = [i.key() for i in payload.separated]
            if separated:
                links.set(dict.fromkeys(separated, new_person_id(separated[0])))
        elif isinstance(payload, RelationshipRecorded):
            related = self._match(links, payload.related, None)
            family, members = relate(
                _family(connection, person),
                person,
                related,
                payload.relationship,
                payload.expected_delivery_date,
            )
            _add_members(connection, family, members)
        elif isinstance(payload, BirthRegistered):
            mother = self._match(links, payload.mother, None)
            mothers_family = _family(connection, mother)
            unborn = None
            if mothers_family is not None:
                unborn = born_child(_members(connection, mothers_family), payload.birth_date)
            if unborn is not None and mothers_family is not None:
                links.set(dict.fromkeys(subject_keys, unborn))
                _add_members(connection, mothers_family, [FamilyMember(unborn, "CHILD")])
            else:
                family, members = relate(mothers_family, mother, person, Relationship.CHILD, None)
                _add_members(connection, family, members)

    def _match(
        self,
        links: LinkCache,
        identifiers: Sequence[PersonIdentifier],
        demographics: Demographics | None,
    ) -> str:
        connection = links.connection
        keys = [i.key() for i in identifiers]
        blocking = demographics.blocking_key(self._rule) if demographics else None
        candidates = _candidates(connection, blocking) if blocking else {}
        resolution = resolve(
            identifiers,
            demographics,
            links=links.of(keys),
            candidates=candidates,
            rule=self._rule,
        )
        links.set(dict(resolution.new_links))
        for review in resolution.reviews:
            exists = connection.execute(
                select(reviews_table.c.review_id).where(
                    reviews_table.c.review_id == review.review_id
                )
            ).first()
            if exists is None:
                connection.execute(
                    insert(reviews_table).values(
                        review_id=review.review_id,
                        person_id=review.person_id,
                        candidate_id=review.candidate_id,
                        reason=review.reason,
                        status="OPEN",
                    )
                )
        if demographics is not None:
            _save_demographics(connection, resolution.person_id, demographics, blocking)
        return resolution.person_id


def family_keys_in(connection: Connection, identifier_keys: Iterable[str]) -> dict[str, str]:
    """:meth:`IdentityStore.family_keys_of` on ``connection``: inside a transaction, it sees
    that transaction's writes (the person index routes each part of a batch as it leaves the
    rows, :meth:`IdentityStore.apply_parts`)."""
    wanted = sorted(set(identifier_keys))
    found: dict[str, str] = {}
    # One query per chunk, the links joined to their families: this runs once per part of the
    # person index's batch (each cut, ADR 0027), so a second query per part was a third of the
    # worker's SQL statements.
    joined = links_table.outerjoin(
        members_table, members_table.c.person_id == links_table.c.person_id
    )
    for start in range(0, len(wanted), _CHUNK):
        chunk = wanted[start : start + _CHUNK]
        rows = connection.execute(
            select(links_table.c.identifier_key, links_table.c.person_id, members_table.c.family_id)
            .select_from(joined)
            .where(links_table.c.identifier_key.in_(chunk))
        )
        for key, person, family in rows:
            if key not in found:  # a person's first family, as ``_family``'s limit 1
                found[key] = family or family_key_for(person)
    return found


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


def _candidates(connection: Connection, blocking: str) -> dict[str, Demographics]:
    rows = connection.execute(
        select(demographics_table).where(demographics_table.c.blocking_key == blocking)
    ).mappings()
    return {
        r["person_id"]: Demographics(
            r["given_name"], r["family_name"], r["birth_date"], r["postcode"]
        )
        for r in rows
    }


def _save_demographics(
    connection: Connection, person: str, demographics: Demographics, blocking: str | None
) -> None:
    values = {
        "blocking_key": blocking,
        "given_name": demographics.given_name,
        "family_name": demographics.family_name,
        "birth_date": demographics.birth_date,
        "postcode": demographics.postcode,
    }
    # One statement (INSERT ... ON CONFLICT DO UPDATE), not an update and then an insert: a
    # registration of a new person was two statements of the person index's few per entry.
    upsert_many(connection, demographics_table, ["person_id"], [{"person_id": person, **values}])


def _family(connection: Connection, person: str) -> str | None:
    return connection.execute(
        select(members_table.c.family_id).where(members_table.c.person_id == person).limit(1)
    ).scalar_one_or_none()


def _members(connection: Connection, family: str) -> dict[str, FamilyMember]:
    rows = connection.execute(select(members_table).where(members_table.c.family_id == family))
    return {
        r.person_id: FamilyMember(r.person_id, r.relationship, r.expected_delivery_date)
        for r in rows
    }


def _add_members(connection: Connection, family: str, members: list[FamilyMember]) -> None:
    existing = _members(connection, family)
    for member in members:
        values = {
            "relationship": member.relationship,
            "expected_delivery_date": member.expected_delivery_date,
        }
        if member.person_id in existing:
            connection.execute(
                update(members_table)
                .where(members_table.c.family_id == family)
                .where(members_table.c.person_id == member.person_id)
                .values(**values)
            )
        else:
            connection.execute(
                insert(members_table).values(family_id=family, person_id=member.person_id, **values)
            )


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
