"""``POST /people/{key}/erasure``: erase a person from the hub by destroying their keys.

Thin over :func:`hub.services.erasure.erase_person`: the keys are destroyed first, then one
``SubjectErased`` marker per key is published behind all of that key's events, and the worker
purges the projections as it reaches each. If publishing fails the answer is 503 and repeating
the request re-publishes the markers of keys already destroyed.
"""

from __future__ import annotations

import uuid

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field

from hub.http.dependencies import AgreementDep, ClockDep, IdentityDep, KeysDep, Reader, SinkDep
from hub.http.inputs import PersonKey
from hub.http.openapi import NOT_FOUND
from hub.services.erasure import erase_person


class ErasureIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    reason: str = Field(
        min_length=10,
        max_length=500,
        description="Why (e.g. the request reference and the ground under UK GDPR Art. 17).",
    )


class ErasureOut(BaseModel):
    erasure_id: uuid.UUID
    identifiers: int = Field(description="Identifier keys of the person that were erased.")
    keys_destroyed: int = Field(description="Data keys destroyed (markers published).")


def erasure_router() -> APIRouter:
    router = APIRouter(tags=["erasure"])

    @router.post(
        "/people/{key:path}/erasure",
        status_code=202,
        response_model=ErasureOut,
        summary="Erase a person: destroy their data keys, then purge the projections",
        responses=NOT_FOUND,
    )
    async def erase(
        key: PersonKey,
        body: ErasureIn,
        reader: Reader,
        agreement: AgreementDep,
        identity: IdentityDep,
        keys: KeysDep,
        sink: SinkDep,
        clock: ClockDep,
    ) -> ErasureOut:
        erased = await erase_person(
            agreement, identity, keys, sink, clock, reader, key, body.reason
        )
        return ErasureOut(
            erasure_id=erased.erasure_id,
            identifiers=erased.identifiers,
            keys_destroyed=erased.keys_destroyed,
        )

    return router
