"""Families as pure functions: who belongs together, and in what relationship.

A family forms around the person a relationship is recorded for (usually the mother) and takes
its id from her, deterministically, so a replay rebuilds the same families. An unborn child is a
member known by its expected delivery date; at birth registration it *becomes* the born child
(the same hub person, now linked to the baby's NHS number) rather than a second person.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Final

from hub.identity.matching import PERSON_NAMESPACE
from hub.vocabulary import Relationship

ANCHOR: Final = "ANCHOR"  # the person the family formed around
BIRTH_WINDOW: Final = timedelta(weeks=8)  # a birth this close to the EDD is that unborn child


@dataclass(frozen=True)
class FamilyMember:
    person_id: str
    relationship: str  # a Relationship value, or ANCHOR
    expected_delivery_date: date | None = None


def family_key_for(anchor_person_id: str) -> str:
    """The key of the family that forms (or would form) around this person: the family topic's
    key (ADR 0010), a UUIDv5 so no identifier is in clear in it."""
    return str(uuid.uuid5(PERSON_NAMESPACE, f"family|{anchor_person_id}"))


def first_family(families: Iterable[str]) -> str | None:
    """The family of a person who is in several (a mother who is also a child of her own
    mother's family): the least key, so both dialects, a replay and the batch's memory choose
    the same one (ADR 0044); None for a person in none."""
    return min(families, default=None)


def relate(
    family_key: str | None,
    subject_person: str,
    related_person: str,
    relationship: Relationship,
    expected_delivery_date: date | None,
) -> tuple[str, list[FamilyMember]]:
    """The family the relationship puts both persons in, and the members to record."""
    family = family_key or family_key_for(subject_person)
    members = [FamilyMember(related_person, relationship.value, expected_delivery_date)]
    if family_key is None:
        members.insert(0, FamilyMember(subject_person, ANCHOR))
    return family, members


def born_child(members: Mapping[str, FamilyMember], birth_date: date) -> str | None:
    """The unborn child this birth is, by expected delivery date (nearest within the window)."""
    near = [
        (abs(m.expected_delivery_date - birth_date), m.person_id)
        for m in members.values()
        if m.relationship == Relationship.UNBORN_CHILD
        and m.expected_delivery_date is not None
        and abs(m.expected_delivery_date - birth_date) <= BIRTH_WINDOW
    ]
    return min(near)[1] if near else None
