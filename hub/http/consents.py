"""HTTP routes for consent and safeguarding overrides: record, withdraw, end, and list.

Each write is a change to who may see what, asked of
:func:`hub.services.change_requests.request_change` (ADR 0019): refused is 403 with the reason,
held for review is 202 with status ``review`` and nothing published, permitted becomes a
case-event (202 only after the broker's ack). Every attempt is in the change log. The
safeguarding lead's list of her organisation's overrides goes through the gate and is recorded
before it is answered (:func:`hub.services.governance.overrides_recorded`).
"""

from __future__ import annotations

import uuid
from enum import StrEnum
from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field

from hub.http.dependencies import ChangeStoresDep, Reader, Reference, SharingContextDep, SinkDep
from hub.http.inputs import Instant
from hub.http.shapes import CHANGE_RESPONSES, ChangeAnswer, SubjectIn
from hub.ingest.sink import CaseEventSink
from hub.payloads import (
    ConsentRecorded,
    ConsentWithdrawn,
    Payload,
    SafeguardingOverrideEnded,
    SafeguardingOverrideRecorded,
)
from hub.services.change_requests import request_change
from hub.services.governance import overrides_recorded
from hub.services.sharing_changes import Attempt, ChangeStores
from hub.sharing.agreement import ChangeKind
from hub.sharing.changes import SYSTEM_ROLE, Change
from hub.sharing.policy import Recipient
from hub.vocabulary import DataCategory, OverrideReason, Purpose


class ConsentMethod(StrEnum):
    """How the parent gave her consent: the evidence a lawful basis of consent needs."""

    WRITTEN = "WRITTEN"  # a signed form
    VERBAL = "VERBAL"  # said to the practitioner, who records it
    DIGITAL = "DIGITAL"  # a form or app the parent filled in herself


class ConsentIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    subject: SubjectIn
    family_key: str | None = None
    consent_id: str = Field(default_factory=lambda: str(uuid.uuid4()), min_length=1)
    recipients: tuple[str, ...] = Field(min_length=1)
    categories: tuple[DataCategory, ...] = Field(min_length=1)
    purposes: tuple[Purpose, ...] = (Purpose.DIRECT_CARE,)
    expires_at: Instant | None = None
    method: ConsentMethod = Field(description="How the parent consented (the evidence).")
    obtained_by: str | None = Field(
        default=None,
        min_length=1,
        description="The practitioner who obtained it; default the caller. A system "
        "(PARTNER_SYSTEM) must name her.",
    )
    obtained_at: Instant | None = Field(
        default=None, description="When she obtained it; default now. Not in the future."
    )


class WithdrawalIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    subject: SubjectIn
    consent_id: str | None = None
    recipients: tuple[str, ...] = ()
    categories: tuple[DataCategory, ...] = ()
    reason: str | None = Field(default=None, description="How the parent withdrew, in words.")


class OverrideIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    subject: SubjectIn
    family_key: str | None = None
    override_id: str = Field(default_factory=lambda: str(uuid.uuid4()), min_length=1)
    reason_code: OverrideReason
    reason: str | None = None
    recipients: tuple[str, ...] = Field(min_length=1)
    categories: tuple[DataCategory, ...] = Field(min_length=1)
    expires_at: Instant


class OverrideEndIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    subject: SubjectIn
    reason: str | None = Field(default=None, description="Why it ends early (the review).")


def consents_router() -> APIRouter:
    router = APIRouter(tags=["sharing"])

    @router.post(
        "/sharing/consents",
        status_code=202,
        response_model=ChangeAnswer,
        responses=CHANGE_RESPONSES,
    )
    async def record_consent(
        body: ConsentIn,
        reader: Reader,
        stores: ChangeStoresDep,
        sink: SinkDep,
        reference: Reference,
    ) -> ChangeAnswer:
        """Record a parent's consent, obtained by a practitioner of a party involved with her
        (202 once it is durably on the case-event stream; ``review`` if held)."""
        payload = ConsentRecorded(
            consent_id=body.consent_id,
            recipients=body.recipients,
            categories=body.categories,
            purposes=body.purposes,
            recorded_by=reader.user_id,
            recorded_by_organisation=reader.organisation_code,
            expires_at=body.expires_at,
        )
        obtained_by = body.obtained_by or (None if reader.role == SYSTEM_ROLE else reader.user_id)
        obtained_at = body.obtained_at or stores.clock()
        change = Change(
            ChangeKind.CONSENT_RECORDED,
            frozenset(body.recipients),
            obtained_by=obtained_by,
            obtained_at=obtained_at,
        )
        evidence = {
            "obtained_by": obtained_by,
            "obtained_at": obtained_at.isoformat(),
            "method": body.method.value,
            "categories": sorted(body.categories),
            "purposes": sorted(body.purposes),
        }
        attempt = _attempt(reader, body.subject, change, reference, evidence=evidence)
        return await _change(stores, sink, attempt, body.subject, body.family_key, payload)

    @router.post(
        "/sharing/withdrawals",
        status_code=202,
        response_model=ChangeAnswer,
        responses=CHANGE_RESPONSES,
    )
    async def withdraw_consent(
        body: WithdrawalIn,
        reader: Reader,
        stores: ChangeStoresDep,
        sink: SinkDep,
        reference: Reference,
    ) -> ChangeAnswer:
        """Withdraw consent (any party involved with the person); the next read and the next
        push exclude the withdrawn data."""
        payload = ConsentWithdrawn(
            consent_id=body.consent_id,
            recipients=body.recipients,
            categories=body.categories,
            recorded_by=reader.user_id,
            recorded_by_organisation=reader.organisation_code,
        )
        change = Change(ChangeKind.CONSENT_WITHDRAWN, frozenset(body.recipients))
        attempt = _attempt(reader, body.subject, change, reference, justification=body.reason)
        return await _change(stores, sink, attempt, body.subject, None, payload)

    @router.post(
        "/sharing/overrides",
        status_code=202,
        response_model=ChangeAnswer,
        responses=CHANGE_RESPONSES,
    )
    async def record_override(
        body: OverrideIn,
        reader: Reader,
        stores: ChangeStoresDep,
        sink: SinkDep,
        reference: Reference,
    ) -> ChangeAnswer:
        """Record a safeguarding override: safeguarding roles of statutory organisations only,
        always with expiry, never naming their own organisation."""
        change = Change(ChangeKind.OVERRIDE_STARTED, frozenset(body.recipients))
        justification = body.reason or body.reason_code
        attempt = _attempt(reader, body.subject, change, reference, justification=justification)
        payload = SafeguardingOverrideRecorded(
            override_id=body.override_id,
            recorded_by=reader.user_id,
            recorded_by_organisation=reader.organisation_code,
            reason_code=body.reason_code,
            reason=body.reason,
            recipients=body.recipients,
            categories=body.categories,
            expires_at=body.expires_at,
        )
        return await _change(stores, sink, attempt, body.subject, body.family_key, payload)

    @router.post(
        "/sharing/overrides/{override_id}/end",
        status_code=202,
        response_model=ChangeAnswer,
        responses=CHANGE_RESPONSES,
    )
    async def end_override(
        override_id: str,
        body: OverrideEndIn,
        reader: Reader,
        stores: ChangeStoresDep,
        sink: SinkDep,
        reference: Reference,
    ) -> ChangeAnswer:
        """End an override early, on review: only its own organisation's safeguarding roles."""
        payload = SafeguardingOverrideEnded(
            override_id=override_id,
            ended_by=reader.user_id,
            ended_by_organisation=reader.organisation_code,
        )
        change = Change(ChangeKind.OVERRIDE_ENDED, override_id=override_id)
        attempt = _attempt(reader, body.subject, change, reference, justification=body.reason)
        return await _change(stores, sink, attempt, body.subject, None, payload)

    @router.get(
        "/safeguarding/overrides", summary="Overrides recorded by the reader's organisation"
    )
    async def overrides_for_lead(
        reader: Reader, context: SharingContextDep, reference: Reference
    ) -> list[dict[str, Any]]:
        """For the designated safeguarding lead / Caldicott guardian, who reviews every one."""
        return [
            {
                "override_id": o.override_id,
                "subject_key": o.subject_key,
                "recorded_by": o.recorded_by,
                "reason_code": o.reason_code,
                "reason": o.reason,
                "recipients": sorted(o.recipients),
                "categories": sorted(o.categories),
                "starts_at": o.starts_at,
                "expires_at": o.expires_at,
                "ended_at": o.ended_at,
            }
            for o in await overrides_recorded(context, reader, reference=reference)
        ]

    return router


def _attempt(
    reader: Recipient,
    subject: SubjectIn,
    change: Change,
    reference: str,
    *,
    justification: str | None = None,
    evidence: dict[str, Any] | None = None,
) -> Attempt:
    return Attempt(
        reader,
        change,
        subject.key(),
        channel="api",
        reference=reference,
        justification=justification,
        evidence=evidence or {},
    )


async def _change(
    stores: ChangeStores,
    sink: CaseEventSink,
    attempt: Attempt,
    subject: SubjectIn,
    family_key: str | None,
    payload: Payload,
) -> ChangeAnswer:
    result = await request_change(stores, sink, attempt, subject.identifiers(), family_key, payload)
    return ChangeAnswer.of(result)
