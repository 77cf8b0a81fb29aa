"""Who an HL7 v2 message names to the team around the family, as a pure reading (ADR 0021).

Three places name a practitioner, and the source's configuration
(:class:`hub.connectors.sources.PractitionerRoles`) says which of them mean what:

* ``ROL`` (role): ROL-1 role instance id, ROL-2 action code (``AD`` add, ``UP`` update, ``UC``
  unchanged: assign; ``DE`` delete: unassign), ROL-3 role code (mapped by ``codes``), ROL-4 the
  person (XCN), ROL-12 contact. The one place HL7 has for "this is her midwife" and for ending it.
* ``PV1-7`` / ``PV1-8`` / ``PV1-9`` (attending / referring / consulting): assigned in the role
  configured for that field.
* ``AIP-3`` / ``AIP-4`` (personnel, resource role) in SIU messages: assigned when AIP-4.1 is in
  ``codes``.

A practitioner is (organisation, id): the organisation is the XCN's assigning authority
(XCN-9.1) where the sender gives one, else the source's organisation. A ``ROL`` with an unknown
action code, or no person id, is a content error naming the field, never silently dropped; a
role code the source did not map names nobody (it is the source's own vocabulary).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

import hl7

from hub.connectors.hl7v2.reading import Hl7Problem, value
from hub.connectors.sources import SourceConfig
from hub.payloads import PractitionerAssigned, PractitionerUnassigned
from hub.vocabulary import AssignmentScope, PractitionerRole

REQUIRED_FIELD_MISSING: Final = 101
TABLE_VALUE_NOT_FOUND: Final = 103
ASSIGNING: Final = frozenset({"AD", "UP", "UC"})
UNASSIGNING: Final = frozenset({"DE"})
_PV1_FIELDS: Final = ((7, "attending"), (8, "referring"), (9, "consulting"))


@dataclass(frozen=True)
class Named:
    """One change to the team a message states, with the id that makes a re-send recognisable."""

    key: str  # unique within the message: the event id and source record id derive from it
    change: PractitionerAssigned | PractitionerUnassigned


def named_practitioners(
    segments: list[hl7.Segment], source: SourceConfig, problems: list[Hl7Problem]
) -> list[Named]:
    """Every assignment and unassignment the message's ROL, PV1 and AIP segments state."""
    found: list[Named] = []
    count: dict[str, int] = {}
    for segment in segments:
        name = str(segment[0])
        count[name] = count.get(name, 0) + 1
        if name == "ROL":
            found.extend(_rol(segment, count[name], source, problems))
        elif name == "PV1":
            found.extend(_pv1(segment, count[name], source))
        elif name == "AIP":
            found.extend(_aip(segment, count[name], source))
    unique: dict[PractitionerAssigned | PractitionerUnassigned, Named] = {}
    for named in found:  # the same midwife in PV1-7 and AIP-3 is one assignment
        unique.setdefault(named.change, named)
    return list(unique.values())


def _rol(
    segment: hl7.Segment, position: int, source: SourceConfig, problems: list[Hl7Problem]
) -> list[Named]:
    action = value(segment, 2).upper()
    if action not in ASSIGNING | UNASSIGNING:
        problems.append(
            Hl7Problem(
                "ROL",
                2,
                f"action code {action!r} is not AD, UP, UC or DE (HL7 table 0287)",
                TABLE_VALUE_NOT_FOUND if action else REQUIRED_FIELD_MISSING,
            )
        )
        return []
    if not value(segment, 4, 1, 1):
        problems.append(
            Hl7Problem("ROL", 4, "the role's person has no id (XCN-1)", REQUIRED_FIELD_MISSING, 1)
        )
        return []
    role = source.practitioner_roles.codes.get(value(segment, 3, 1, 1))
    if role is None:
        return []
    instance = value(segment, 1, 1, 1) or str(position)
    if action in UNASSIGNING:
        return [
            Named(
                f"rol-{instance}",
                PractitionerUnassigned(
                    practitioner_id=value(segment, 4, 1, 1),
                    organisation_code=_organisation(segment, 4, source),
                    role=role,
                    scope=AssignmentScope.PERSON,
                    reason=value(segment, 8, 1, 2) or value(segment, 8, 1, 1) or None,
                ),
            )
        ]
    contact = value(segment, 12, 1, 4) or value(segment, 12, 1, 1) or None
    return [Named(f"rol-{instance}", _assigned(segment, 4, 1, role, source, contact))]


def _pv1(segment: hl7.Segment, position: int, source: SourceConfig) -> list[Named]:
    roles = source.practitioner_roles
    return [
        Named(f"pv1-{position}-{field}", _assigned(segment, field, 1, role, source, None))
        for field, attribute in _PV1_FIELDS
        for role in [getattr(roles, attribute)]
        if role is not None and value(segment, field, 1, 1)
    ]


def _aip(segment: hl7.Segment, position: int, source: SourceConfig) -> list[Named]:
    role = source.practitioner_roles.codes.get(value(segment, 4, 1, 1))
    if role is None or not value(segment, 3, 1, 1):
        return []
    return [Named(f"aip-{position}", _assigned(segment, 3, 1, role, source, None))]


def _assigned(
    segment: hl7.Segment,
    field: int,
    repetition: int,
    role: PractitionerRole,
    source: SourceConfig,
    contact: str | None,
) -> PractitionerAssigned:
    """An XCN (id, family, given, ..., prefix at 6, assigning authority at 9) as an assignment."""
    given = value(segment, field, repetition, 3)
    family = value(segment, field, repetition, 2)
    practitioner_id = value(segment, field, repetition, 1)
    return PractitionerAssigned(
        practitioner_id=practitioner_id,
        name=" ".join(part for part in (given, family.title()) if part) or practitioner_id,
        role=role,
        organisation_code=_organisation(segment, field, source),
        contact=contact,
        scope=AssignmentScope.PERSON,
    )


def _organisation(segment: hl7.Segment, field: int, source: SourceConfig) -> str:
    """XCN-9.1, the assigning authority of the id, else the source's organisation."""
    return value(segment, field, 1, 9, 1) or source.organisation_code
