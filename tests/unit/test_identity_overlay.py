"""The person index's batch overlay on plain rows (hub/identity/overlay.py, ADR 0044): what it
answers after its own writes is what the tables would answer had each write gone to them."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import date

from hub.events import EventType
from hub.identity.families import FamilyMember, family_key_for, first_family
from hub.identity.matching import DEFAULT_RULE, Demographics, new_person_id
from hub.identity.overlay import IndexOverlay, fold
from hub.payloads import PersonIdentifier, PersonMerged, PersonRegistered, RelationshipRecorded
from hub.vocabulary import Relationship
from tests.builders import NHS_NUMBER, event

MRN = PersonIdentifier(system="https://mft.nhs.uk/Id/mrn", value="M1")
MRN_KEY = f"{MRN.system}|{MRN.value}"


class Rows:
    """The tables as plain lists, counting the reads."""

    def __init__(
        self,
        links: dict[str, str],
        members: list[tuple[str, FamilyMember]] | None = None,
    ) -> None:
        self.links = links
        self.members = members or []
        self.reads = 0

    def links_of_keys(self, keys: Sequence[str]) -> Iterable[tuple[str, str]]:
        self.reads += 1
        return [(k, p) for k, p in self.links.items() if k in keys]

    def links_of_persons(self, persons: Sequence[str]) -> Iterable[tuple[str, str]]:
        self.reads += 1
        return [(k, p) for k, p in self.links.items() if p in persons]

    def demographics_with(
        self, blocking_keys: Sequence[str]
    ) -> Iterable[tuple[str, Demographics, str | None]]:
        self.reads += 1
        return []

    def memberships_of(self, persons: Sequence[str]) -> Iterable[tuple[str, FamilyMember]]:
        self.reads += 1
        return [(f, m) for f, m in self.members if m.person_id in persons]

    def members_of(self, families: Sequence[str]) -> Iterable[tuple[str, FamilyMember]]:
        self.reads += 1
        return [(f, m) for f, m in self.members if f in families]


AMY = PersonRegistered(
    given_name="Amy", family_name="Example", birth_date=date(1999, 4, 1), postcode="M5 4WT"
)


def test_a_preloaded_batch_folds_without_reading_again() -> None:
    rows = Rows({NHS_NUMBER: "p-amy"})
    entries = [
        event(EventType.PERSON_REGISTERED, AMY),
        event(EventType.PERSON_MERGED, PersonMerged(merged=(MRN,)), record_id="m"),
        event(
            EventType.RELATIONSHIP_RECORDED,
            RelationshipRecorded(
                related=(MRN,),
                relationship=Relationship.UNBORN_CHILD,
                expected_delivery_date=date(2026, 9, 1),
            ),
            record_id="r",
        ),
    ]
    overlay = IndexOverlay(rows, DEFAULT_RULE)
    overlay.preload(entries)
    before = rows.reads
    for entry in entries:
        fold(overlay, entry)
    assert rows.reads == before  # everything the batch touched was read up front
    assert overlay.links([MRN_KEY]) == {MRN_KEY: "p-amy", NHS_NUMBER: "p-amy"}
    family = family_key_for("p-amy")
    assert overlay.family_keys([NHS_NUMBER, "urn:x|unknown"]) == {NHS_NUMBER: family}
    pending = overlay.take_pending()
    assert pending.links == {MRN_KEY: "p-amy"}
    assert set(pending.members) == {(family, "p-amy")}  # the anchor; the MRN is hers now
    assert pending.demographics["p-amy"][1] == "EXAMPLE|1999-04-01|M54WT"
    assert not overlay.take_pending()  # handed over once


def test_a_write_wins_over_the_rows_read_after_it() -> None:
    # The MRN was Bea's; the batch links it to Amy, then reads Bea's keys from the table.
    rows = Rows({NHS_NUMBER: "p-amy", MRN_KEY: "p-bea", "urn:x|B2": "p-bea"})
    overlay = IndexOverlay(rows, DEFAULT_RULE)
    overlay.link({MRN_KEY: "p-amy"})
    assert overlay.links(["urn:x|B2"]) == {"urn:x|B2": "p-bea"}
    assert overlay.links([NHS_NUMBER]) == {NHS_NUMBER: "p-amy", MRN_KEY: "p-amy"}
    assert overlay.holds(MRN_KEY)
    assert not overlay.holds("urn:x|never")


def test_a_person_in_two_families_is_routed_by_the_least_key() -> None:
    person = new_person_id(NHS_NUMBER)
    rows = Rows(
        {NHS_NUMBER: person},
        [("f-b", FamilyMember(person, "ANCHOR")), ("f-a", FamilyMember(person, "MOTHER"))],
    )
    overlay = IndexOverlay(rows, DEFAULT_RULE)
    assert overlay.family_of(person) == "f-a" == first_family(["f-b", "f-a"])
    assert overlay.family_keys([NHS_NUMBER]) == {NHS_NUMBER: "f-a"}
    assert first_family([]) is None
