"""Person matching as pure functions: which hub person does a source record mean?

Rules, strongest first (the NHS's own guidance for record linkage is the model):

1. An identifier the index already knows links to its person. When one record carries
   identifiers of two different hub persons, nothing is merged: a review task is opened.
2. A valid NHS number (checked by the connector) identifies a person on its own: a new hub
   person is created for it and every identifier on the record is linked to it.
3. Otherwise a configurable demographic rule (by default: family name, date of birth and
   postcode, normalised) may *propose* a link to an existing person. It never merges on that
   evidence: a new person is created and a review task asks a practitioner to decide.

Merges and unmerges from a source's master patient index (HL7 A40/A37) are applied as stated:
the source knows its own duplicates.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Final

from hub.payloads import NHS_NUMBER_SYSTEM, PersonIdentifier

PERSON_NAMESPACE: Final = uuid.UUID("0b3f5a62-8d0e-5c6f-b7a9-34e1c2d9f001")
DEFAULT_RULE: Final = ("family_name", "birth_date", "postcode")


@dataclass(frozen=True)
class Demographics:
    given_name: str | None = None
    family_name: str | None = None
    birth_date: date | None = None
    postcode: str | None = None

    def blocking_key(self, rule: Sequence[str] = DEFAULT_RULE) -> str | None:
        """The normalised values the rule compares, or None if any is missing."""
        values = []
        for name in rule:
            value = getattr(self, name)
            if value is None or value == "":
                return None
            values.append("".join(str(value).upper().split()))
        return "|".join(values)


@dataclass(frozen=True)
class ReviewTask:
    """A possible match a person must confirm or reject; the hub never decides it alone."""

    review_id: str
    person_id: str
    candidate_id: str
    reason: str


@dataclass(frozen=True)
class Resolution:
    person_id: str
    new_links: Mapping[str, str] = field(default_factory=dict)  # identifier key -> person id
    reviews: tuple[ReviewTask, ...] = ()


def new_person_id(first_key: str) -> str:
    """Deterministic, so a replay of the log builds the same index."""
    return str(uuid.uuid5(PERSON_NAMESPACE, first_key))


def resolve(
    identifiers: Sequence[PersonIdentifier],
    demographics: Demographics | None,
    *,
    links: Mapping[str, str],
    candidates: Mapping[str, Demographics],
    rule: Sequence[str] = DEFAULT_RULE,
) -> Resolution:
    """Decide the hub person for one record.

    ``links`` holds the index's links for this record's identifiers; ``candidates`` the persons
    whose demographics share the record's blocking key (the store looks both up).
    """
    keys = [i.key() for i in identifiers]
    if not keys:
        raise ValueError("a record with no identifiers cannot be matched")
    known = sorted({links[k] for k in keys if k in links})
    if known:
        person_id = links[next(k for k in keys if k in links)]
        unlinked = {k: person_id for k in keys if k not in links}
        reviews = tuple(
            ReviewTask(
                review_id=_review_id(person_id, other),
                person_id=person_id,
                candidate_id=other,
                reason="one source record carries identifiers of both persons",
            )
            for other in known
            if other != person_id
        )
        return Resolution(person_id, unlinked, reviews)
    person_id = new_person_id(keys[0])
    new_links = dict.fromkeys(keys, person_id)
    has_nhs_number = any(i.system == NHS_NUMBER_SYSTEM for i in identifiers)
    key = demographics.blocking_key(rule) if demographics else None
    if has_nhs_number or key is None:
        return Resolution(person_id, new_links)
    reviews = tuple(
        ReviewTask(
            review_id=_review_id(person_id, candidate),
            person_id=person_id,
            candidate_id=candidate,
            reason=f"same {', '.join(rule)} but no shared identifier",
        )
        for candidate, theirs in sorted(candidates.items())
        if candidate != person_id and theirs.blocking_key(rule) == key
    )
    return Resolution(person_id, new_links, reviews)


def _review_id(person_id: str, candidate_id: str) -> str:
    first, second = sorted((person_id, candidate_id))
    return str(uuid.uuid5(PERSON_NAMESPACE, f"review|{first}|{second}"))


def merge_links(
    survivor_keys: Iterable[str], merged_keys: Iterable[str], links: Mapping[str, str]
) -> dict[str, str]:
    """Re-point the merged identifiers (and everything linked with them) at the survivor."""
    survivor = next((links[k] for k in survivor_keys if k in links), None)
    if survivor is None:
        survivor = new_person_id(next(iter(survivor_keys)))
    losing = {links[k] for k in merged_keys if k in links} - {survivor}
    changed = {k: survivor for k, person in links.items() if person in losing}
    changed.update({k: survivor for k in merged_keys if links.get(k) != survivor})
    changed.update({k: survivor for k in survivor_keys if k not in links})
    return changed
