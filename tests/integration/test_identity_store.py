"""The person index and families as a SQL projection, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import date
from itertools import count

import pytest
from sqlalchemy import Engine

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
from hub.identity.store import IdentityStore
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
