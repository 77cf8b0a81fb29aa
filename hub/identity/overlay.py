"""The person index as one batch leaves it, held in memory (ADR 0044).

Matching a record, placing a person in a family and routing an entry to the family topic each
read the index as the entries before it left it. Read from the tables, that was a few queries
per entry and one per part of the worker's batch (ADR 0027), most of them about people the
batch had already read. :class:`IndexOverlay` is the index's rows as the batch leaves them: what
the batch will touch is read in a few queries up front (:meth:`IndexOverlay.preload`), anything
else on first use, and every write is kept here, pending, until the store writes them all at
once at the end of the batch (:meth:`IndexOverlay.take_pending`), in the same transaction as
the positions. What it answers is always what the tables would answer had each write gone to
them at once: a row it has not seen is read from the table (which holds the batch's start), and
a row it has seen or written wins over the table's.

No SQL here: the rows come through :class:`IndexRows` (the store's thin SQL shell), so tests
can drive the overlay and :func:`fold` on plain data. :func:`fold` is one entry's effect, the
decisions made by the pure rules of :mod:`~hub.identity.matching` and
:mod:`~hub.identity.families`. An erasure is not folded here: the store writes what is pending,
deletes in SQL and starts a new overlay, so nothing of an erased subject outlives it in memory.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from hub.events import CaseEvent
from hub.identity.families import FamilyMember, born_child, family_key_for, first_family, relate
from hub.identity.matching import (
    Demographics,
    ReviewTask,
    merge_links,
    new_person_id,
    resolve,
)
from hub.payloads import (
    BirthRegistered,
    PersonIdentifier,
    PersonMerged,
    PersonRegistered,
    PersonUnmerged,
    RelationshipRecorded,
)
from hub.vocabulary import Relationship


class IndexRows(Protocol):
    """The index's rows as they stood when the batch began (the store reads them in SQL, a
    query per slice of each argument, however long)."""

    def links_of_keys(self, keys: Sequence[str]) -> Iterable[tuple[str, str]]:
        """``(identifier key, person)`` of each of ``keys`` that is linked."""
        ...

    def links_of_persons(self, persons: Sequence[str]) -> Iterable[tuple[str, str]]:
        """``(identifier key, person)`` of every key linked to one of ``persons``."""
        ...

    def demographics_with(
        self, blocking_keys: Sequence[str]
    ) -> Iterable[tuple[str, Demographics, str | None]]:
        """``(person, demographics, blocking key)`` of every person with one of those keys."""
        ...

    def memberships_of(self, persons: Sequence[str]) -> Iterable[tuple[str, FamilyMember]]:
        """``(family, member)`` of every family membership of ``persons``."""
        ...

    def members_of(self, families: Sequence[str]) -> Iterable[tuple[str, FamilyMember]]:
        """``(family, member)`` of every member of ``families``."""
        ...


@dataclass
class Pending:
    """The batch's writes, the last of each row: what the store writes in bulk."""

    links: dict[str, str] = field(default_factory=dict)  # identifier key -> person
    demographics: dict[str, tuple[Demographics, str | None]] = field(default_factory=dict)
    members: dict[tuple[str, str], FamilyMember] = field(default_factory=dict)  # (family, person)
    reviews: dict[str, ReviewTask] = field(default_factory=dict)  # the first of each id

    def __bool__(self) -> bool:
        return bool(self.links or self.demographics or self.members or self.reviews)


def batch_keys(event: CaseEvent) -> list[str]:
    """Every identifier key an entry may read or link: its subject's and its payload's."""
    payload = event.payload
    identifiers: list[PersonIdentifier] = list(event.subject)
    if isinstance(payload, PersonMerged):
        identifiers.extend(payload.merged)
    elif isinstance(payload, PersonUnmerged):
        identifiers.extend(payload.separated)
    elif isinstance(payload, RelationshipRecorded):
        identifiers.extend(payload.related)
    elif isinstance(payload, BirthRegistered):
        identifiers.extend(payload.mother)
    return [i.key() for i in identifiers]


def demographics_of(event: CaseEvent) -> Demographics | None:
    """The demographics a registration carries (the only entry that has any)."""
    payload = event.payload
    if not isinstance(payload, PersonRegistered):
        return None
    return Demographics(
        payload.given_name, payload.family_name, payload.birth_date, payload.postcode
    )


class IndexOverlay:
    """Links, candidates, families and reviews as the batch leaves them, over :class:`IndexRows`.

    Each mapping is authoritative for what it holds: a key in ``_person`` (``None``: linked to
    no one), a person in ``_demographics`` or ``_families``, a family in ``_members``. A person's
    key set is complete once read by person (``_complete``); a blocking key's candidates once
    read by it (``_blocks``)."""

    def __init__(self, rows: IndexRows, rule: Sequence[str]) -> None:
        self._rows = rows
        self.rule = tuple(rule)
        self._person: dict[str, str | None] = {}
        self._keys: dict[str, set[str]] = {}
        self._complete: set[str] = set()
        self._demographics: dict[str, tuple[Demographics, str | None]] = {}
        self._by_block: dict[str, set[str]] = {}
        self._blocks: set[str] = set()
        self._families: dict[str, set[str]] = {}
        self._members: dict[str, dict[str, FamilyMember]] = {}
        self._reviewed: set[str] = set()
        self.pending = Pending()

    # -- loading ---------------------------------------------------------------------------

    def preload(self, entries: Iterable[CaseEvent], excluding: Iterable[str] = ()) -> None:
        """Read what ``entries`` will touch, in a few queries: their identifiers' links (and
        every link of the persons a merge moves), the candidates of their registrations'
        blocking keys, the families of their persons (and of each person they may create: ids
        are made from keys) and every member of those families and of the families their
        relationships and births may form. ``excluding``: keys not to read (an erasure's, after
        it). Only a saving: whatever it did not read is read on first use."""
        gone = set(excluding)
        keys: set[str] = set()
        blocks: set[str] = set()
        merging: set[str] = set()  # keys whose persons' every link a merge reads
        anchoring: set[str] = set()  # keys whose persons may anchor a new family
        separated: set[str] = set()
        for event in entries:
            mentioned = batch_keys(event)
            keys.update(mentioned)
            payload = event.payload
            if isinstance(payload, PersonMerged):
                merging.update(mentioned)
            elif isinstance(payload, PersonUnmerged):
                separated.update(i.key() for i in payload.separated)
            elif isinstance(payload, RelationshipRecorded):
                anchoring.update(i.key() for i in event.subject)
            elif isinstance(payload, BirthRegistered):
                anchoring.update(i.key() for i in payload.mother)
            demographics = demographics_of(event)
            blocking = demographics.blocking_key(self.rule) if demographics else None
            if blocking is not None:
                blocks.add(blocking)
        keys -= gone
        persons = self._load_keys(keys)
        # A key linked to no one makes its person from itself; so does an unmerge's.
        made = {
            key: new_person_id(key) for key in keys if self._person[key] is None or key in separated
        }
        self._load_persons({self._person[k] or made[k] for k in merging - gone})
        self._load_blocks(blocks)
        self._load_families(persons | set(made.values()))
        self._load_members(
            family_key_for(person)
            for key in anchoring - gone
            for person in (self._person[key], made.get(key))
            if person is not None
        )

    def _load_keys(self, keys: Iterable[str]) -> set[str]:
        """Read the links of ``keys`` not yet known; the persons they name."""
        missing = sorted({key for key in keys if key not in self._person})
        if not missing:
            return set()
        found = dict(self._rows.links_of_keys(missing))
        for key in missing:
            person = found.get(key)
            self._person[key] = person
            if person is not None:
                self._keys.setdefault(person, set()).add(key)
        return set(found.values())

    def _load_persons(self, persons: Iterable[str]) -> None:
        """Make each person's key set complete: the table's keys the overlay does not hold."""
        missing = sorted({person for person in persons if person not in self._complete})
        if not missing:
            return
        for key, person in self._rows.links_of_persons(missing):
            if key not in self._person:  # a key the overlay holds is as the batch left it
                self._person[key] = person
                self._keys.setdefault(person, set()).add(key)
        self._complete.update(missing)

    def _load_blocks(self, blocks: Iterable[str]) -> None:
        missing = sorted({block for block in blocks if block not in self._blocks})
        if not missing:
            return
        for person, demographics, blocking in self._rows.demographics_with(missing):
            if person not in self._demographics:
                self._demographics[person] = (demographics, blocking)
                if blocking is not None:
                    self._by_block.setdefault(blocking, set()).add(person)
        self._blocks.update(missing)

    def _load_families(self, persons: Iterable[str]) -> None:
        """Each person's families, and every member of those families."""
        persons = set(persons)
        missing = sorted(person for person in persons if person not in self._families)
        if missing:
            for person in missing:
                self._families[person] = set()
            for family, member in self._rows.memberships_of(missing):
                self._families[member.person_id].add(family)
        self._load_members({f for person in persons for f in self._families[person]})

    def _load_members(self, families: Iterable[str]) -> None:
        unknown = sorted({f for f in families if f not in self._members})
        if not unknown:
            return
        for family in unknown:
            self._members[family] = {}
        for family, member in self._rows.members_of(unknown):
            self._members[family][member.person_id] = member

    def holds(self, key: str) -> bool:
        """Whether anything of this identifier key is in memory (an erasure's must not be)."""
        return (
            key in self._person
            or key in self.pending.links
            or any(key in keys for keys in self._keys.values())
        )

    # -- reads -----------------------------------------------------------------------------

    def links(self, keys: Iterable[str]) -> dict[str, str]:
        """The person of each of ``keys`` that has one, and every other key linked to those
        persons (what a merge reads: it moves all of them)."""
        wanted = list(keys)
        self._load_keys(wanted)
        found = {key: person for key in wanted if (person := self._person[key]) is not None}
        persons = set(found.values())
        self._load_persons(persons)
        for person in persons:
            found.update(dict.fromkeys(self._keys[person], person))
        return found

    def linked(self, keys: Iterable[str]) -> dict[str, str]:
        """The person of each of ``keys`` that has one (all that matching reads)."""
        wanted = list(keys)
        self._load_keys(wanted)
        return {key: person for key in wanted if (person := self._person[key]) is not None}

    def candidates(self, blocking: str) -> dict[str, Demographics]:
        """Every person whose demographics have this blocking key."""
        self._load_blocks([blocking])
        return {
            person: self._demographics[person][0] for person in self._by_block.get(blocking, ())
        }

    def family_of(self, person: str) -> str | None:
        """The family a person is in (:func:`~hub.identity.families.first_family` of several)."""
        self._load_families([person])
        return first_family(self._families[person])

    def members(self, family: str) -> dict[str, FamilyMember]:
        self._load_members([family])
        return self._members[family]

    def family_keys(self, keys: Iterable[str]) -> dict[str, str]:
        """The family each known key's person is in, or would anchor (what the worker routes
        by, ADR 0010); an unknown key is left out."""
        wanted = sorted(set(keys))
        self._load_keys(wanted)
        persons = {person for key in wanted if (person := self._person[key]) is not None}
        self._load_families(persons)
        found: dict[str, str] = {}
        for key in wanted:
            person = self._person[key]
            if person is not None:
                found[key] = first_family(self._families[person]) or family_key_for(person)
        return found

    # -- writes ----------------------------------------------------------------------------

    def link(self, links: Mapping[str, str]) -> None:
        for key, person in links.items():
            before = self._person.get(key)
            if before is not None:
                self._keys[before].discard(key)
            self._person[key] = person
            self._keys.setdefault(person, set()).add(key)
            self.pending.links[key] = person

    def review(self, review: ReviewTask) -> None:
        """Open a review unless the batch already did (the store inserts none that exists)."""
        if review.review_id not in self._reviewed:
            self._reviewed.add(review.review_id)
            self.pending.reviews[review.review_id] = review

    def save_demographics(
        self, person: str, demographics: Demographics, blocking: str | None
    ) -> None:
        before = self._demographics.get(person)
        if before is not None and before[1] is not None:
            self._by_block[before[1]].discard(person)
        self._demographics[person] = (demographics, blocking)
        if blocking is not None:
            self._by_block.setdefault(blocking, set()).add(person)
        self.pending.demographics[person] = (demographics, blocking)

    def add_members(self, family: str, members: Iterable[FamilyMember]) -> None:
        known = self.members(family)
        for member in members:
            self._load_families([member.person_id])
            self._families[member.person_id].add(family)
            known[member.person_id] = member
            self.pending.members[(family, member.person_id)] = member

    def take_pending(self) -> Pending:
        """The writes so far, handed over once (the store writes them; the overlay goes on)."""
        pending, self.pending = self.pending, Pending()
        return pending


def fold(overlay: IndexOverlay, event: CaseEvent) -> None:
    """One entry's effect on the index: match its subject, then merge, unmerge, relate or place
    a birth. Raises ``ValueError`` for a record that cannot be matched (the entry is refused)."""
    payload = event.payload
    person = match(overlay, event.subject, demographics_of(event))
    subject_keys = [i.key() for i in event.subject]
    if isinstance(payload, PersonMerged):
        merged = [i.key() for i in payload.merged]
        overlay.link(merge_links(subject_keys, merged, overlay.links([*subject_keys, *merged])))
    elif isinstance(payload, PersonUnmerged):
        separated = [i.key() for i in payload.separated]
        if separated:
            overlay.link(dict.fromkeys(separated, new_person_id(separated[0])))
    elif isinstance(payload, RelationshipRecorded):
        related = match(overlay, payload.related, None)
        family, members = relate(
            overlay.family_of(person),
            person,
            related,
            payload.relationship,
            payload.expected_delivery_date,
        )
        overlay.add_members(family, members)
    elif isinstance(payload, BirthRegistered):
        mother = match(overlay, payload.mother, None)
        mothers_family = overlay.family_of(mother)
        unborn = None
        if mothers_family is not None:
            unborn = born_child(overlay.members(mothers_family), payload.birth_date)
        if unborn is not None and mothers_family is not None:
            overlay.link(dict.fromkeys(subject_keys, unborn))
            overlay.add_members(mothers_family, [FamilyMember(unborn, "CHILD")])
        else:
            family, members = relate(mothers_family, mother, person, Relationship.CHILD, None)
            overlay.add_members(family, members)


def match(
    overlay: IndexOverlay,
    identifiers: Sequence[PersonIdentifier],
    demographics: Demographics | None,
) -> str:
    """The hub person of a record (:func:`~hub.identity.matching.resolve` on the overlay),
    its new links, reviews and demographics written to the overlay."""
    keys = [i.key() for i in identifiers]
    blocking = demographics.blocking_key(overlay.rule) if demographics else None
    resolution = resolve(
        identifiers,
        demographics,
        links=overlay.linked(keys),
        candidates=overlay.candidates(blocking) if blocking else {},
        rule=overlay.rule,
    )
    overlay.link(resolution.new_links)
    for review in resolution.reviews:
        overlay.review(review)
    if demographics is not None:
        overlay.save_demographics(resolution.person_id, demographics, blocking)
    return resolution.person_id
