"""The person index and families as a SQL projection, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import date
from itertools import count
from pathlib import Path

import pytest
from sqlalchemy import Connection, Engine, select

from hub.erasure.sealing import LogEntry
from hub.events import (
    BirthRegistered,
    CaseEvent,
    EventType,
    Payload,
    PersonIdentifier,
    PersonMerged,
    PersonRegistered,
    PersonUnmerged,
    Relationship,
    RelationshipRecorded,
)
from hub.identity.store import (
    IdentityStore,
    demographics_table,
    family_keys_in,
    links_table,
    members_table,
    reviews_table,
)
from hub.storage.engine import make_engine
from hub.storage.positions import BatchEntry
from tests.builders import NHS_NUMBER, event

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
