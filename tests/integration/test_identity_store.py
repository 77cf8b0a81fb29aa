"""The person index and families as a SQL projection, on SQLite and PostgreSQL."""

from __future__ import annotations

import uuid
from datetime import date
from itertools import accumulate, count, islice
from pathlib import Path

import pytest
from sqlalchemy import Connection, Engine, delete, select

from hub.erasure.sealing import Erasure, LogEntry
from hub.events import CaseEvent, EventType
from hub.identity.routing import REKEYING
from hub.identity.store import (
    IdentityStore,
    demographics_table,
    family_keys_in,
    links_table,
    members_table,
    overlay_of,
    reviews_table,
)
from hub.nhs_number import valid_nhs_numbers
from hub.payloads import (
    BirthRegistered,
    Payload,
    PersonIdentifier,
    PersonMerged,
    PersonRegistered,
    PersonUnmerged,
    RelationshipRecorded,
)
from hub.storage.engine import make_engine
from hub.storage.positions import BatchEntry, PoisonEntriesError, positions
from hub.vocabulary import Relationship
from tests.builders import NHS_NUMBER, T0, event

MRN = PersonIdentifier(system="https://mft.nhs.uk/Id/mrn", value="M123")
COUNCIL = PersonIdentifier(system="urn:council:355:person", value="P77")
BUMP = PersonIdentifier(system="urn:council:355:unborn", value="U1")
BABY_NHS = "4010232137"
OFFSETS = count()


@pytest.fixture
def index(sql_engine: Engine) -> IdentityStore:
    return IdentityStore(sql_engine)


def apply(index: IdentityStore, event_type: EventType, payload: Payload, **kwargs: object) -> None:
    built = event(event_type, payload, record_id=f"r{next(OFFSETS)}", **kwargs)  # type: ignore[arg-type]
    assert index.apply("t", 0, next(OFFSETS), built)


def local(identifier: PersonIdentifier, event_type: EventType, payload: Payload) -> CaseEvent:
    return event(event_type, payload, record_id=f"r{next(OFFSETS)}").model_copy(
        update={"subject": (identifier,)}
    )


def apply_local(
    index: IdentityStore, identifier: PersonIdentifier, event_type: EventType, payload: Payload
) -> None:
    assert index.apply("t", 0, next(OFFSETS), local(identifier, event_type, payload))


AMY = PersonRegistered(
    given_name="Amy", family_name="Example", birth_date=date(1999, 4, 1), postcode="M5 4WT"
)


def test_merge_unmerge_review_family_and_birth(index: IdentityStore) -> None:
    apply(index, EventType.PERSON_REGISTERED, AMY)
    mother = index.person_of(NHS_NUMBER)
    assert mother is not None

    # The hospital's MRN-only record: same demographics, no shared identifier -> a review.
    apply_local(index, MRN, EventType.PERSON_REGISTERED, AMY)
    mrn_person = index.person_of(f"{MRN.system}|{MRN.value}")
    assert mrn_person not in (None, mother)
    [review] = index.open_reviews()
    assert {review.person_id, review.candidate_id} == {mother, mrn_person}

    # The source's own MPI merges them (ADT^A40): applied as stated.
    apply(index, EventType.PERSON_MERGED, PersonMerged(merged=(MRN,)))
    assert index.person_of(f"{MRN.system}|{MRN.value}") == mother
    assert index.keys_of(mother) == sorted([NHS_NUMBER, f"{MRN.system}|{MRN.value}"])
    assert index.same_person(f"{MRN.system}|{MRN.value}") == index.keys_of(mother)
    assert index.same_person("urn:unknown|X1") == ["urn:unknown|X1"]

    # ... and unmerges it (ADT^A37).
    apply(index, EventType.PERSON_UNMERGED, PersonUnmerged(separated=(MRN,)))
    assert index.person_of(f"{MRN.system}|{MRN.value}") != mother
    assert index.keys_of(mother) == [NHS_NUMBER]

    # A pre-birth relationship from social care, then the birth.
    apply(
        index,
        EventType.RELATIONSHIP_RECORDED,
        RelationshipRecorded(
            related=(BUMP,),
            relationship=Relationship.UNBORN_CHILD,
            expected_delivery_date=date(2026, 9, 1),
        ),
    )
    family, members = index.family_of(mother)
    assert family is not None
    unborn = index.person_of(f"{BUMP.system}|{BUMP.value}")
    assert {(m.person_id, m.relationship) for m in members} == {
        (mother, "ANCHOR"),
        (unborn, "UNBORN_CHILD"),
    }
    nhs = PersonIdentifier(system="https://fhir.nhs.uk/Id/nhs-number", value=BABY_NHS)
    apply(
        index,
        EventType.BIRTH_REGISTERED,
        BirthRegistered(
            mother=(nhs.model_copy(update={"value": NHS_NUMBER}),), birth_date=date(2026, 8, 28)
        ),
        nhs_number=BABY_NHS,
    )
    assert index.person_of(BABY_NHS) == unborn  # the unborn child became the born child
    _, members = index.family_of(mother)
    assert (unborn, "CHILD") in {(m.person_id, m.relationship) for m in members}


def test_applying_an_entry_twice_changes_nothing(index: IdentityStore) -> None:
    built = event(EventType.PERSON_REGISTERED, AMY, record_id="once")
    assert index.apply("t", 0, 5, built)
    assert not index.apply("t", 0, 5, built)
    assert index.keys_of(index.person_of(NHS_NUMBER) or "") == [NHS_NUMBER]


def test_a_batch_of_parts_leaves_the_index_as_one_entry_at_a_time_does(
    index: IdentityStore, sql_engine: Engine, tmp_path: Path
) -> None:
    """The links a batch reads come from its transaction's cache (hub/identity/link_cache.py):
    registrations, a review, a merge and an unmerge, a relationship, a birth and later events
    about the same people, applied as one batch of three parts across two partitions, leave
    every table of the index as applying them one per transaction does; and each part is routed
    on the rows as it left them."""
    nhs = PersonIdentifier(system="https://fhir.nhs.uk/Id/nhs-number", value=NHS_NUMBER)
    entries: list[CaseEvent] = [
        event(EventType.PERSON_REGISTERED, AMY, record_id="b0"),
        local(MRN, EventType.PERSON_REGISTERED, AMY),
        event(EventType.PERSON_MERGED, PersonMerged(merged=(MRN,)), record_id="b2"),
        # After the merge, the MRN is the mother's: the family forms around her.
        local(
            MRN,
            EventType.RELATIONSHIP_RECORDED,
            RelationshipRecorded(
                related=(BUMP,),
                relationship=Relationship.UNBORN_CHILD,
                expected_delivery_date=date(2026, 9, 1),
            ),
        ),
        event(EventType.PERSON_UNMERGED, PersonUnmerged(separated=(MRN,)), record_id="b4"),
        local(MRN, EventType.PERSON_REGISTERED, AMY),
        event(
            EventType.BIRTH_REGISTERED,
            BirthRegistered(mother=(nhs,), birth_date=date(2026, 8, 28)),
            nhs_number=BABY_NHS,
            record_id="b6",
        ),
        event(EventType.PERSON_REGISTERED, AMY, record_id="b7"),
    ]
    for offset, entry in enumerate(entries):
        assert index.apply("t", 0, offset, entry)

    batched_engine = make_engine(f"sqlite:///{tmp_path / 'batched.sqlite3'}")
    batched = IdentityStore(batched_engine)
    batched.create_schema()
    items: list[BatchEntry[LogEntry]] = [
        BatchEntry(offset, entry) for offset, entry in enumerate(entries)
    ]
    routed: list[dict[str, str]] = []

    def route(index_of_part: int, connection: Connection) -> None:
        routed.append(family_keys_in(connection, [NHS_NUMBER, BABY_NHS]))

    parts = [(0, items[:3]), (1, items[3:6]), (0, items[6:])]
    assert batched.apply_parts("t", parts, route) == len(entries)

    assert _rows(batched_engine) == _rows(sql_engine)
    # The baby's NHS number is unknown until the birth, in the last part.
    assert [BABY_NHS in keys for keys in routed] == [False, False, True]
    assert routed[-1] == batched.family_keys_of([NHS_NUMBER, BABY_NHS])
    # Applied again (a redelivery), nothing is fresh and nothing changes.
    assert batched.apply_parts("t", parts, None) == 0
    assert _rows(batched_engine) == _rows(sql_engine)


def _rows(engine: Engine) -> dict[str, list[tuple[object, ...]]]:
    with engine.connect() as connection:
        return {
            table.name: sorted(tuple(row) for row in connection.execute(select(table)))
            for table in (links_table, demographics_table, members_table, reviews_table)
        }


def _story() -> list[LogEntry]:
    """Three families' entries interleaved as a day's feeds bring them: registrations, an
    MRN-only duplicate (a review), a merge and an unmerge, pre-birth relationships, births, a
    partner, an erasure of one mother in the middle, then her re-registration and later events
    about the others (one of whom is then in two families)."""
    mothers = list(islice(valid_nhs_numbers(943476500), 3))
    babies = list(islice(valid_nhs_numbers(401023200), 3))
    nhs = [PersonIdentifier(system="https://fhir.nhs.uk/Id/nhs-number", value=n) for n in mothers]
    bumps = [PersonIdentifier(system="urn:council:355:unborn", value=f"U{i}") for i in range(3)]
    partner = PersonIdentifier(system="urn:council:355:person", value="P9")
    mrn = PersonIdentifier(system="https://mft.nhs.uk/Id/mrn", value="M9")
    amy = [
        AMY.model_copy(update={"postcode": f"M{i} 4WT", "given_name": f"Amy{i}"}) for i in range(3)
    ]
    story: list[LogEntry] = []
    for i in range(3):
        story.append(event(EventType.PERSON_REGISTERED, amy[i], nhs_number=mothers[i]))
    story += [
        local(mrn, EventType.PERSON_REGISTERED, amy[1]),
        event(
            EventType.PERSON_MERGED,
            PersonMerged(merged=(mrn,)),
            nhs_number=mothers[1],
            record_id="m",
        ),
    ]
    for i in range(3):
        story.append(
            event(
                EventType.RELATIONSHIP_RECORDED,
                RelationshipRecorded(
                    related=(bumps[i],),
                    relationship=Relationship.UNBORN_CHILD,
                    expected_delivery_date=date(2026, 9, 1 + i),
                ),
                nhs_number=mothers[i],
                record_id=f"rel{i}",
            )
        )
    story += [
        local(
            mrn,
            EventType.RELATIONSHIP_RECORDED,
            RelationshipRecorded(related=(partner,), relationship=Relationship.FATHER_OR_PARTNER),
        ),
        event(
            EventType.PERSON_UNMERGED,
            PersonUnmerged(separated=(mrn,)),
            nhs_number=mothers[1],
            record_id="u",
        ),
        event(
            EventType.BIRTH_REGISTERED,
            BirthRegistered(mother=(nhs[0],), birth_date=date(2026, 8, 30)),
            nhs_number=babies[0],
            record_id="b0",
        ),
        Erasure(
            key_id="k0",
            erasure_id=uuid.UUID(int=7),
            erased_at=T0,
            requested_by="dpo",
            reason="subject's request",
            subjects=(mothers[2],),
        ),
        event(
            EventType.BIRTH_REGISTERED,
            BirthRegistered(mother=(nhs[1],), birth_date=date(2026, 9, 2)),
            nhs_number=babies[1],
            record_id="b1",
        ),
        # Mother 0 joins mother 1's family as her mother: a person in two families.
        event(
            EventType.RELATIONSHIP_RECORDED,
            RelationshipRecorded(related=(nhs[0],), relationship=Relationship.MOTHER),
            nhs_number=mothers[1],
            record_id="grandmother",
        ),
        event(EventType.PERSON_REGISTERED, amy[2], nhs_number=mothers[2], record_id="again"),
        local(mrn, EventType.PERSON_REGISTERED, amy[1]),
        event(
            EventType.BIRTH_REGISTERED,
            BirthRegistered(mother=(nhs[2],), birth_date=date(2026, 9, 3)),
            nhs_number=babies[2],
            record_id="b2",
        ),
    ]
    return story


def _story_keys(story: list[LogEntry]) -> list[str]:
    return sorted(
        {
            key
            for entry in story
            for key in (
                [i.key() for i in entry.subject] if isinstance(entry, CaseEvent) else entry.subjects
            )
        }
        | {"https://mft.nhs.uk/Id/mrn|M9", "urn:council:355:unborn|U0", "urn:council:355:person|P9"}
    )


def test_a_batch_of_many_parts_ends_where_one_entry_at_a_time_ends(
    index: IdentityStore, sql_engine: Engine
) -> None:
    """ADR 0044: the batch is folded in memory and written once at the end. Cut as the worker
    cuts it (before each entry that may re-key others) across two partitions, applied in one
    call, it leaves every table as the entries applied one per transaction do; each part is
    routed (``family_keys_in`` in ``after_part``) as the one-at-a-time index stood after that
    part's last entry; and after the erasure the batch's memory holds no key of the erased
    subject."""
    story = _story()
    keys = _story_keys(story)
    one_at_a_time = IdentityStore(sql_engine)
    after_each: list[dict[str, str]] = []
    for offset, entry in enumerate(story):
        assert one_at_a_time.apply("t", 0, offset, entry)
        after_each.append(one_at_a_time.family_keys_of(keys))
    expected = _rows(sql_engine)
    _clear(sql_engine)

    parts: list[tuple[int, list[BatchEntry[LogEntry]]]] = []
    for offset, entry in enumerate(story):
        rekeys = isinstance(entry, Erasure) or entry.event_type.value in REKEYING
        if rekeys or not parts:
            parts.append((len(parts) % 2, []))
        parts[-1][1].append(BatchEntry(offset, entry))
    # Each partition's offsets must rise: give the two partitions their own offsets.
    numbered: list[tuple[int, list[BatchEntry[LogEntry]]]] = [
        (partition, [BatchEntry(i * 100 + n, e.entry) for n, e in enumerate(part)])
        for i, (partition, part) in enumerate(parts)
    ]
    assert len(numbered) > 8  # many parts
    last_of_part = list(accumulate(len(part) for _, part in numbered))
    erased = next(e.subjects for e in story if isinstance(e, Erasure))
    erasure_part = next(
        i for i, (_, part) in enumerate(numbered) if isinstance(part[0].entry, Erasure)
    )
    routed: list[dict[str, str]] = []

    def route(part: int, connection: Connection) -> None:
        if part == erasure_part:  # before anything asks about the erased key again
            overlay = overlay_of(connection)
            assert overlay is not None
            assert not any(overlay.holds(key) for key in erased)
        routed.append(family_keys_in(connection, keys))

    assert index.apply_parts("t", numbered, route) == len(story)
    assert _rows(sql_engine) == expected
    assert routed == [after_each[n - 1] for n in last_of_part]
    assert index.apply_parts("t", numbered, None) == 0  # a redelivery: nothing is fresh


def test_a_refusal_in_a_batch_of_parts_writes_nothing_and_names_its_partition(
    index: IdentityStore, sql_engine: Engine
) -> None:
    """A record with no identifiers is refused (PoisonEntriesError naming partition and
    offset) with nothing of the batch written, the rows written before it in memory included;
    applied again without it, the batch ends as the entries applied one at a time do."""
    story = _story()
    nameless = local(MRN, EventType.PERSON_REGISTERED, AMY).model_copy(update={"subject": ()})
    parts: list[tuple[int, list[BatchEntry[LogEntry]]]] = [
        (0, [BatchEntry(n, e) for n, e in enumerate(story[:6])]),
        (1, [BatchEntry(0, story[6]), BatchEntry(1, nameless), BatchEntry(2, story[7])]),
        (0, [BatchEntry(6 + n, e) for n, e in enumerate(story[8:])]),
    ]
    nothing = _rows(sql_engine)
    with pytest.raises(PoisonEntriesError) as refused:
        index.apply_parts("t", parts, None)
    assert (refused.value.partition, list(refused.value.reasons)) == (1, [1])
    assert "no identifiers" in refused.value.reasons[1]
    assert _rows(sql_engine) == nothing
    assert index.next_offset("t", 0) is None
    assert index.next_offset("t", 1) is None

    parts[1][1][1] = BatchEntry(1, None)  # dead-lettered, as the runner does
    assert index.apply_parts("t", parts, None) == len(story) + 1
    after = _rows(sql_engine)
    _clear(sql_engine)
    one = IdentityStore(sql_engine)
    for partition, part in parts:
        for item in part:
            one.apply("t", partition, item.offset, item.entry)
    assert _rows(sql_engine) == after


def _clear(engine: Engine) -> None:
    with engine.begin() as connection:
        for table in (links_table, demographics_table, members_table, reviews_table, positions):
            connection.execute(delete(table))
