"""``POST /people/{key}/erasure``: erase a person from the hub by destroying their keys.

The order is what makes it safe: the keys are destroyed first (from that commit nothing sealed
with them opens, in any process), then one ``SubjectErased`` marker per key is published to the
key's partition, behind all of that key's events; the worker deletes the projections' rows when
it reaches each marker. If publishing fails the answer is 503 and repeating the request
re-publishes the markers of keys already destroyed.
"""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Request
from pydantic import BaseModel, ConfigDict, Field

from hub.erasure.keystore import SubjectKeyStore
from hub.erasure.sealing import erasure_marker
from hub.http.authentication import reader_identity
from hub.http.openapi import NOT_FOUND
from hub.identifiers import PersonKey
from hub.identity.store import IdentityStore
from hub.ingest.sink import CaseEventSink
from hub.kafka.publisher import PublishError
from hub.sharing.agreement import ERASURE_ROLES, Agreement
from hub.sharing.policy import Recipient

Reader = Annotated[Recipient, Depends(reader_identity)]


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
        key: PersonKey, body: ErasureIn, reader: Reader, request: Request
    ) -> ErasureOut:
        agreement: Agreement = request.app.state.agreement
        if not agreement.is_statutory(reader.organisation_code):
            raise HTTPException(403, "erasure is decided by a statutory partner")
        if reader.role not in ERASURE_ROLES:
            raise HTTPException(403, f"only {sorted(ERASURE_ROLES)} erase a person")
        identity: IdentityStore = request.app.state.identity
        subjects = identity.same_person(key)
        keys: SubjectKeyStore = request.app.state.keys
        now = request.app.state.clock()
        key_ids = keys.shred(subjects, now)
        if not key_ids:
            raise HTTPException(404, "the hub holds no data sealed for this person")
        erasure_id = uuid.uuid4()
        sink: CaseEventSink = request.app.state.sink
        by = f"{reader.organisation_code}/{reader.user_id}"
        try:
            for key_id in key_ids:
                await sink.publish_erasure(erasure_marker(key_id, erasure_id, now, by, body.reason))
        except PublishError as error:
            raise HTTPException(
                503,
                "the keys are destroyed but the erasure markers did not reach Kafka; repeat the "
                f"request to purge the projections ({error})",
            ) from error
        return ErasureOut(
            erasure_id=erasure_id, identifiers=len(subjects), keys_destroyed=len(key_ids)
        )

    return router
