"""The person index's links as one transaction leaves them, read once per batch (issue 19).

Matching an event's subject reads the links of its identifiers and every identifier linked to
the same persons (:func:`hub.identity.store._links`: two queries) — for every entry, although
most entries are about people the index already knows. :class:`LinkCache` answers those reads
from memory: the batch's subjects are loaded in two queries up front (:meth:`LinkCache.load`),
anything else on first use, and every link the batch writes goes through it (written to the
table at once, in the same transaction, and kept here), so it never holds what the table does
not. It lives for one transaction only: a retried or another transaction starts a new one, so
nothing is cached across commits, rollbacks or processes, and what other writers do between
batches is read afresh.

A person's entry in the cache is complete (every identifier linked to them) once it was read
by person; a person it has only seen through a write is read from the table when first asked
for, which includes that write. An erasure deletes links behind the cache's back, so the index
calls :meth:`LinkCache.forget` after one.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from sqlalchemy import Connection, Table, select

from hub.storage.positions import chunks, upsert_many


class LinkCache:
    """Identifier key → person, and person → every identifier key, on one transaction."""

    def __init__(self, connection: Connection, links: Table) -> None:
        self.connection = connection
        self._table = links
        self._person: dict[str, str | None] = {}  # None: known to be linked to no one
        self._keys: dict[str, set[str]] = {}  # complete: every key linked to the person

    def load(self, keys: Iterable[str]) -> None:
        """Read the links of ``keys`` not yet known, and every link of their persons: two
        queries per :func:`~hub.storage.positions.chunks` slice, however many keys."""
        missing = sorted({key for key in keys if key not in self._person})
        if not missing:
            return
        table = self._table
        found: dict[str, str] = {}
        for chunk in chunks(missing):
            rows = self.connection.execute(
                select(table.c.identifier_key, table.c.person_id).where(
                    table.c.identifier_key.in_(chunk)
                )
            )
            found.update({key: person for key, person in rows})
        for key in missing:
            self._person[key] = found.get(key)
        self._complete({person for person in found.values() if person not in self._keys})

    def _complete(self, persons: set[str]) -> None:
        table = self._table
        for chunk in chunks(sorted(persons)):
            for person in chunk:
                self._keys[person] = set()
            rows = self.connection.execute(
                select(table.c.identifier_key, table.c.person_id).where(
                    table.c.person_id.in_(chunk)
                )
            )
            for key, person in rows:
                self._person[key] = person
                self._keys[person].add(key)

    def of(self, keys: Iterable[str]) -> dict[str, str]:
        """What :func:`hub.identity.store._links` reads: the person of each of ``keys`` that
        has one, and every other identifier linked to those persons."""
        wanted = list(keys)
        self.load(wanted)
        found = {key: person for key in wanted if (person := self._person[key]) is not None}
        persons = set(found.values())
        self._complete({person for person in persons if person not in self._keys})
        for person in persons:
            found.update(dict.fromkeys(self._keys[person], person))
        return found

    def set(self, links: Mapping[str, str]) -> None:
        """Link each key to its person: one statement for all of them, in the transaction."""
        if not links:
            return
        upsert_many(
            self.connection,
            self._table,
            ["identifier_key"],
            [{"identifier_key": key, "person_id": person} for key, person in links.items()],
        )
        for key, person in links.items():
            before = self._person.get(key)
            if before is not None and before in self._keys:
                self._keys[before].discard(key)
            self._person[key] = person
            if person in self._keys:
                self._keys[person].add(key)

    def forget(self) -> None:
        """Drop everything known (the links were changed by other means: an erasure)."""
        self._person.clear()
        self._keys.clear()
