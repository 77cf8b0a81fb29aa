"""The team around a family, and a practitioner's caseload, as a reader may see them (ADR 0013).

The shell of :mod:`hub.team.view`: it reads the family from the person index and the items
from the team store, passes the gate (:meth:`SharingContext.release`: today's agreement,
consents and overrides, the context's clock), records every disclosure *before* returning
(:class:`~hub.services.errors.NotRecordedError` and no data if that fails), and only then
returns what was released. A family the reader may see nothing of is not found — the same
answer as a family that does not exist — with the withheld decisions on record. The API and the
inbox (the team beside an alert) call these same functions.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime

from hub.disclosures import Channel, Disclosure
from hub.identity.families import ANCHOR, FamilyMember
from hub.identity.store import IdentityStore
from hub.practitioners import PractitionerRef
from hub.services.errors import ForbiddenError, NotFoundError
from hub.services.release import SharingContext
from hub.services.statements import record_disclosures
from hub.sharing.agreement import GOVERNANCE_ROLES
from hub.sharing.gate import Item, Release
from hub.sharing.policy import Recipient, Subject
from hub.team.models import CaseloadOut, TeamOut
from hub.team.store import TeamStore
from hub.team.view import (
    Assembled,
    MemberInput,
    Wanted,
    assemble_team,
    caseload_entry,
    not_sent,
    shown_in_caseload,
)
from hub.vocabulary import Purpose

SELF = "SELF"  # the relationship shown for a person in no family
NOT_FOUND = "no such family, or nothing in it the reader may see"


async def family_team(
    identity: IdentityStore,
    team: TeamStore,
    context: SharingContext,
    reader: Recipient,
    family_key: str,
    *,
    reference: str,
) -> TeamOut:
    """The team around a family; :class:`NotFoundError` for an unknown family or one the reader
    may see nothing of."""
    members = identity.family_members(family_key)
    if not members:
        raise NotFoundError(NOT_FOUND)
    view = await _released_team(identity, team, context, reader, family_key, members, reference)
    if view is None:
        raise NotFoundError(NOT_FOUND)
    return view


async def team_of_person(
    identity: IdentityStore,
    team: TeamStore,
    context: SharingContext,
    reader: Recipient,
    person_key: str,
    *,
    reference: str,
) -> TeamOut | None:
    """The team around a person's family (or the person alone) as ``reader`` may see it, with
    the disclosures recorded; None when the person is unknown or nothing may be shown. Also
    what the inbox shows beside an alert."""
    person = identity.person_of(person_key)
    if person is None:
        return None
    family, members = identity.family_of(person)
    if family is None:
        members = [FamilyMember(person, SELF)]
    return await _released_team(identity, team, context, reader, family, members, reference)


async def caseload(
    identity: IdentityStore,
    team: TeamStore,
    context: SharingContext,
    reader: Recipient,
    practitioner: PractitionerRef,
    *,
    reference: str,
) -> CaseloadOut:
    """The families ``practitioner`` is in the team of, each summarised through the gate, read
    by the practitioner or a governance role. A family appears only if the reader may see the
    practitioner's involvement; what was assembled for one she may not is recorded as not sent.
    """
    if practitioner != reader.practitioner and reader.role not in GOVERNANCE_ROLES:
        raise ForbiddenError("a caseload is read by its practitioner or governance roles")
    now = context.clock()
    groups: dict[str, tuple[str | None, list[FamilyMember]]] = {}
    for key in team.subjects_involving(practitioner):
        person = identity.person_of(key)
        if person is None:
            continue  # not (or no longer) in the person index: erased, or not yet indexed
        family, members = identity.family_of(person)
        group = family or f"person|{person}"
        groups.setdefault(group, (family, members or [FamilyMember(person, SELF)]))
    wanted = shown_in_caseload(practitioner, now)
    gate = _gate(context, reader, reference)
    entries = []
    disclosures: list[Disclosure] = []
    for family, members in groups.values():
        assembled = _assemble(identity, team, gate, family, members, now, wanted)
        entry = caseload_entry(practitioner, assembled.view) if assembled.view else None
        if entry is None:
            why = "not sent: the reader may not see this practitioner's involvement"
            disclosures.extend(not_sent(d, why) for d in assembled.disclosures)
        else:
            disclosures.extend(assembled.disclosures)
            entries.append(entry)
    await record_disclosures(context, disclosures)
    return CaseloadOut(
        organisation_code=practitioner.organisation_code,
        practitioner_id=practitioner.practitioner_id,
        as_of=now,
        families=entries,
    )


Gate = Callable[[Subject, Sequence[Item[str]], Sequence[str]], Release[str]]


async def _released_team(
    identity: IdentityStore,
    team: TeamStore,
    context: SharingContext,
    reader: Recipient,
    family: str | None,
    members: list[FamilyMember],
    reference: str,
) -> TeamOut | None:
    now = context.clock()
    gate = _gate(context, reader, reference)
    assembled = _assemble(identity, team, gate, family, members, now, None)
    await record_disclosures(context, assembled.disclosures)  # before anything is returned
    return assembled.view


def _assemble(
    identity: IdentityStore,
    team: TeamStore,
    gate: Gate,
    family: str | None,
    members: list[FamilyMember],
    now: datetime,
    wanted: Wanted | None,
) -> Assembled:
    """Each member's items under all their identifier keys (merges followed), gated."""
    inputs = []
    for member in sorted(members, key=_member_order):
        keys = _primary_first(identity.keys_of(member.person_id))
        stored = team.items_of(keys)
        items = tuple((key, item) for key in keys for item in stored[key])
        inputs.append(MemberInput(member.person_id, member.relationship, keys, items))
    return assemble_team(family, inputs, gate, now, wanted)


def _gate(context: SharingContext, reader: Recipient, reference: str) -> Gate:
    def gate(subject: Subject, items: Sequence[Item[str]], also: Sequence[str]) -> Release[str]:
        return context.release(
            reader,
            subject,
            items,
            channel=Channel.API,
            purpose=Purpose.DIRECT_CARE,
            reference=reference,
            also=also,
        )

    return gate


def _member_order(member: FamilyMember) -> tuple[bool, str, str]:
    return (member.relationship != ANCHOR, member.relationship, member.person_id)


def _primary_first(keys: list[str]) -> tuple[str, ...]:
    """The NHS number (a key without a system) first: the disclosure log's subject key."""
    return tuple(sorted(keys, key=lambda k: ("|" in k, k)))
