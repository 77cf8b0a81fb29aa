"""HTTP routes for the team around the family and a practitioner's caseload (ADR 0013).

The shell of :mod:`hub.team.view`: it reads the family from the person index and
the items from the team store, passes the gate (``release_now``: today's agreement, consents and
overrides, the app's clock), records every disclosure *before* answering (503 and no data if
that fails), and only then sends what was released. A family the reader may see nothing of is a
404 — the same answer as a family that does not exist — with the withheld decisions on record.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Request

from hub.events import Purpose
from hub.http.authentication import (
    PRACTITIONER_RESPONSES,
    Organisation,
    named_practitioner,
    reader_identity,
)
from hub.http.openapi import NOT_FOUND as MAY_BE_NOT_FOUND
from hub.http.sharing import record_disclosures, release_now
from hub.identifiers import PersonKey
from hub.identity.families import ANCHOR, FamilyMember
from hub.identity.store import IdentityStore
from hub.sharing.agreement import GOVERNANCE_ROLES
from hub.sharing.disclosure import Channel, Disclosure
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

Reader = Annotated[Recipient, Depends(reader_identity)]
SELF = "SELF"  # the relationship shown for a person in no family
NOT_FOUND = "no such family, or nothing in it the reader may see"


def team_router() -> APIRouter:
    router = APIRouter(tags=["team around the family"])

    @router.get(
        "/families/{family_key}/team",
        response_model=TeamOut,
        summary="The team around a family, as far as the reader may see it",
        responses=MAY_BE_NOT_FOUND,
    )
    async def family_team(family_key: str, reader: Reader, request: Request) -> TeamOut:
        identity: IdentityStore = request.app.state.identity
        members = identity.family_members(family_key)
        if not members:
            raise HTTPException(404, NOT_FOUND)
        return await _team(request, reader, family_key, members)

    @router.get(
        "/people/{person_key:path}/team",
        response_model=TeamOut,
        summary="The team around a person's family (or the person alone, in no family)",
        responses=MAY_BE_NOT_FOUND,
    )
    async def person_team(person_key: PersonKey, reader: Reader, request: Request) -> TeamOut:
        view = await team_of_person(request, reader, person_key)
        if view is None:
            raise HTTPException(404, NOT_FOUND)
        return view

    @router.get(
        "/practitioners/{practitioner_id}/caseload",
        response_model=CaseloadOut,
        summary="The families a practitioner is in the team of",
        responses={
            **PRACTITIONER_RESPONSES,
            503: {"description": "The disclosures could not be recorded, so nothing was sent."},
        },
    )
    async def caseload(
        practitioner_id: str, reader: Reader, request: Request, organisation: Organisation = None
    ) -> CaseloadOut:
        """Read by the practitioner, or a governance role; each family summarised through the
        gate. A family appears only if the reader may see the practitioner's involvement."""
        practitioner = named_practitioner(reader, practitioner_id, organisation)
        if practitioner != reader.practitioner and reader.role not in GOVERNANCE_ROLES:
            raise HTTPException(403, "a caseload is read by its practitioner or governance roles")
        identity: IdentityStore = request.app.state.identity
        team: TeamStore = request.app.state.team
        now: datetime = request.app.state.clock()
        groups: dict[str, tuple[str | None, list[FamilyMember]]] = {}
        for key in team.subjects_involving(practitioner):
            person = identity.person_of(key)
            if person is None:
                continue  # not (or no longer) in the person index: erased, or not yet indexed
            family, members = identity.family_of(person)
            group = family or f"person|{person}"
            groups.setdefault(group, (family, members or [FamilyMember(person, SELF)]))
        wanted = shown_in_caseload(practitioner, now)
        entries = []
        disclosures: list[Disclosure] = []
        for family, members in groups.values():
            assembled = _assemble(request, reader, family, members, now, wanted)
            entry = caseload_entry(practitioner, assembled.view) if assembled.view else None
            if entry is None:
                why = "not sent: the reader may not see this practitioner's involvement"
                disclosures.extend(not_sent(d, why) for d in assembled.disclosures)
            else:
                disclosures.extend(assembled.disclosures)
                entries.append(entry)
        await record_disclosures(request, disclosures)
        return CaseloadOut(
            organisation_code=practitioner.organisation_code,
            practitioner_id=practitioner.practitioner_id,
            as_of=now,
            families=entries,
        )

    return router


async def team_of_person(request: Request, reader: Recipient, person_key: str) -> TeamOut | None:
    """The team around a person's family (or the person alone) as ``reader`` may see it, with
    the disclosures recorded; None when the person is unknown or nothing may be shown. Also
    what the inbox shows beside an alert."""
    identity: IdentityStore = request.app.state.identity
    person = identity.person_of(person_key)
    if person is None:
        return None
    family, members = identity.family_of(person)
    if family is None:
        members = [FamilyMember(person, SELF)]
    return await _released_team(request, reader, family, members)


async def _team(
    request: Request, reader: Recipient, family: str | None, members: list[FamilyMember]
) -> TeamOut:
    view = await _released_team(request, reader, family, members)
    if view is None:
        raise HTTPException(404, NOT_FOUND)
    return view


async def _released_team(
    request: Request, reader: Recipient, family: str | None, members: list[FamilyMember]
) -> TeamOut | None:
    now: datetime = request.app.state.clock()
    assembled = _assemble(request, reader, family, members, now, None)
    await record_disclosures(request, assembled.disclosures)  # before anything is answered
    return assembled.view


def _assemble(
    request: Request,
    reader: Recipient,
    family: str | None,
    members: list[FamilyMember],
    now: datetime,
    wanted: Wanted | None,
) -> Assembled:
    """Each member's items under all their identifier keys (merges followed), gated."""
    identity: IdentityStore = request.app.state.identity
    team: TeamStore = request.app.state.team
    inputs = []
    for member in sorted(members, key=_member_order):
        keys = _primary_first(identity.keys_of(member.person_id))
        stored = team.items_of(keys)
        items = tuple((key, item) for key in keys for item in stored[key])
        inputs.append(MemberInput(member.person_id, member.relationship, keys, items))
    return assemble_team(family, inputs, _gate(request, reader), now, wanted)


def _gate(
    request: Request, reader: Recipient
) -> Callable[[Subject, Sequence[Item[str]], Sequence[str]], Release[str]]:
    reference = f"{request.method} {request.url.path}"

    def gate(subject: Subject, items: Sequence[Item[str]], also: Sequence[str]) -> Release[str]:
        return release_now(
            request,
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
