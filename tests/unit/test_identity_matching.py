"""Person matching and families, as pure functions."""

from __future__ import annotations

from datetime import date

from hub.identity.families import ANCHOR, FamilyMember, born_child, family_key_for, relate
from hub.identity.matching import Demographics, merge_links, new_person_id, resolve
from hub.payloads import NHS_NUMBER_SYSTEM, PersonIdentifier
from hub.vocabulary import Relationship

NHS = PersonIdentifier(system=NHS_NUMBER_SYSTEM, value="9434765919")
MRN = PersonIdentifier(system="https://mft.nhs.uk/Id/mrn", value="M123")
COUNCIL = PersonIdentifier(system="urn:council:355:person", value="P77")
AMY = Demographics("Amy", "Example", date(1999, 4, 1), "M5 4WT")


def test_an_nhs_number_makes_a_person_and_links_every_identifier_on_the_record() -> None:
    result = resolve([NHS, MRN], AMY, links={}, candidates={})
    assert set(result.new_links) == {"9434765919", "https://mft.nhs.uk/Id/mrn|M123"}
    assert set(result.new_links.values()) == {result.person_id}
    assert result.reviews == ()


def test_a_known_identifier_links_the_new_ones_to_its_person() -> None:
    result = resolve([MRN, NHS], None, links={"9434765919": "p-1"}, candidates={})
    assert result.person_id == "p-1"
    assert result.new_links == {"https://mft.nhs.uk/Id/mrn|M123": "p-1"}


def test_demographics_alone_never_merge_they_open_a_review() -> None:
    same = Demographics("Amelia", " example ", date(1999, 4, 1), "m54wt")
    result = resolve([COUNCIL], AMY, links={}, candidates={"p-1": same})
    assert result.person_id != "p-1"  # a new person, not a merge
    [review] = result.reviews
    assert (review.person_id, review.candidate_id) == (result.person_id, "p-1")


def test_different_demographics_open_no_review() -> None:
    other = Demographics("Amy", "Example", date(1999, 4, 2), "M5 4WT")
    assert resolve([COUNCIL], AMY, links={}, candidates={"p-1": other}).reviews == ()


def test_missing_demographics_propose_nothing() -> None:
    partial = Demographics("Amy", "Example", None, "M5 4WT")
    assert resolve([COUNCIL], partial, links={}, candidates={"p-1": AMY}).reviews == ()


def test_identifiers_of_two_persons_on_one_record_open_a_review_not_a_merge() -> None:
    result = resolve(
        [NHS, MRN], None, links={"9434765919": "p-1", MRN.system + "|M123": "p-2"}, candidates={}
    )
    assert result.person_id == "p-1"
    assert [r.candidate_id for r in result.reviews] == ["p-2"]
    assert result.new_links == {}


def test_matching_is_deterministic_for_replays() -> None:
    assert resolve([COUNCIL], AMY, links={}, candidates={}) == resolve(
        [COUNCIL], AMY, links={}, candidates={}
    )


def test_a_merge_moves_everything_linked_with_the_merged_person() -> None:
    links = {"9434765919": "p-1", "mrn|M1": "p-2", "council|P7": "p-2"}
    changed = merge_links(["9434765919"], ["mrn|M1"], links)
    assert changed == {"mrn|M1": "p-1", "council|P7": "p-1"}


def test_an_unborn_child_becomes_the_born_child_by_expected_delivery_date() -> None:
    family, members = relate(None, "mum", "bump", Relationship.UNBORN_CHILD, date(2026, 9, 1))
    assert family == family_key_for("mum")
    assert [m.relationship for m in members] == [ANCHOR, "UNBORN_CHILD"]
    by_person = {m.person_id: m for m in members}
    assert born_child(by_person, date(2026, 8, 20)) == "bump"
    assert born_child(by_person, date(2027, 3, 1)) is None  # too far from the EDD: another baby


def test_the_nearest_unborn_child_is_chosen() -> None:
    members = {
        "a": FamilyMember("a", "UNBORN_CHILD", date(2026, 9, 1)),
        "b": FamilyMember("b", "UNBORN_CHILD", date(2026, 10, 1)),
    }
    assert born_child(members, date(2026, 9, 25)) == "b"


def test_new_person_ids_are_stable() -> None:
    assert new_person_id("x") == new_person_id("x") != new_person_id("y")
