"""HTTP routes for the team around the family and a practitioner's caseload (ADR 0013).

Thin over :mod:`hub.services.team`, which reads the family and the items, passes the gate and
records every disclosure *before* anything is answered (503 and no data if that fails). A
family the reader may see nothing of is a 404 — the same answer as a family that does not
exist — with the withheld decisions on record.
"""

from __future__ import annotations

from fastapi import APIRouter, HTTPException

from hub.http.authentication import PRACTITIONER_RESPONSES, Organisation, named_practitioner
from hub.http.dependencies import IdentityDep, Reader, Reference, SharingContextDep, TeamDep
from hub.http.inputs import PersonKey
from hub.http.openapi import NOT_FOUND as MAY_BE_NOT_FOUND
from hub.services import team as use_cases
from hub.services.team import NOT_FOUND
from hub.team.models import CaseloadOut, TeamOut


def team_router() -> APIRouter:
    router = APIRouter(tags=["team around the family"])

    @router.get(
        "/families/{family_key}/team",
        response_model=TeamOut,
        summary="The team around a family, as far as the reader may see it",
        responses=MAY_BE_NOT_FOUND,
    )
    async def family_team(
        family_key: str,
        reader: Reader,
        identity: IdentityDep,
        team: TeamDep,
        context: SharingContextDep,
        reference: Reference,
    ) -> TeamOut:
        return await use_cases.family_team(
            identity, team, context, reader, family_key, reference=reference
        )

    @router.get(
        "/people/{person_key:path}/team",
        response_model=TeamOut,
        summary="The team around a person's family (or the person alone, in no family)",
        responses=MAY_BE_NOT_FOUND,
    )
    async def person_team(
        person_key: PersonKey,
        reader: Reader,
        identity: IdentityDep,
        team: TeamDep,
        context: SharingContextDep,
        reference: Reference,
    ) -> TeamOut:
        view = await use_cases.team_of_person(
            identity, team, context, reader, person_key, reference=reference
        )
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
        practitioner_id: str,
        reader: Reader,
        identity: IdentityDep,
        team: TeamDep,
        context: SharingContextDep,
        reference: Reference,
        organisation: Organisation = None,
    ) -> CaseloadOut:
        """Read by the practitioner, or a governance role; each family summarised through the
        gate. A family appears only if the reader may see the practitioner's involvement."""
        practitioner = named_practitioner(reader, practitioner_id, organisation)
        return await use_cases.caseload(
            identity, team, context, reader, practitioner, reference=reference
        )

    return router
