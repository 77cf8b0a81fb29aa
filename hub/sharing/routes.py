"""HTTP routes for consent, safeguarding overrides and the disclosure log.

Writes become case-events (accepted with 202 only after the broker's ack), so consent and
overrides reach every projection and every process by the same log. Reads go through the gate
and are themselves recorded before they are answered.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Annotated, Any, TypeVar

from fastapi import APIRouter, Depends, HTTPException, Request
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, model_validator

from hub.events import (
    NHS_NUMBER_SYSTEM,
    PAYLOAD_TYPES,
    CaseEvent,
    ConsentRecorded,
    ConsentWithdrawn,
    DataCategory,
    EventType,
    OverrideReason,
    Payload,
    PersonIdentifier,
    Purpose,
    SafeguardingOverrideEnded,
    SafeguardingOverrideRecorded,
    Sensitivity,
    Source,
    deterministic_event_id,
)
from hub.identity.store import IdentityStore
from hub.nhs_number import is_valid_nhs_number, normalise_nhs_number
from hub.publisher import PublishError
from hub.readers import reader_identity
from hub.sharing.agreement import GOVERNANCE_ROLES, Agreement
from hub.sharing.context import SharingContext
from hub.sharing.disclosure import Channel, Disclosure
from hub.sharing.gate import Item, Release
from hub.sharing.policy import Recipient, Subject
from hub.sharing.store import SharingStore
from hub.sink import CaseEventSink

API_SYSTEM = "hub-api"
T = TypeVar("T")
Reader = Annotated[Recipient, Depends(reader_identity)]


class SubjectIn(BaseModel):
    """The person: an NHS number, or a local identifier qualified by its system."""

    model_config = ConfigDict(extra="forbid")
    nhs_number: str | None = None
    system: str | None = None
    value: str | None = None

    @model_validator(mode="after")
    def _one_identifier(self) -> SubjectIn:
        if self.nhs_number is not None:
            if not is_valid_nhs_number(self.nhs_number):
                raise ValueError(f"nhs_number {self.nhs_number!r} fails the modulus-11 check")
        elif not (self.system and self.value):
            raise ValueError("give nhs_number, or both system and value")
        return self

    def identifiers(self) -> tuple[PersonIdentifier, ...]:
        if self.nhs_number is not None:
            number = normalise_nhs_number(self.nhs_number)
            return (PersonIdentifier(system=NHS_NUMBER_SYSTEM, value=number),)
        # both set: the validator refused anything else
        return (PersonIdentifier(system=self.system or "", value=self.value or ""),)


class ConsentIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    subject: SubjectIn
    family_key: str | None = None
    consent_id: str = Field(default_factory=lambda: str(uuid.uuid4()), min_length=1)
    recipients: tuple[str, ...] = Field(min_length=1)
    categories: tuple[DataCategory, ...] = Field(min_length=1)
    purposes: tuple[Purpose, ...] = (Purpose.DIRECT_CARE,)
    expires_at: AwareDatetime | None = None


class WithdrawalIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    subject: SubjectIn
    consent_id: str | None = None
    recipients: tuple[str, ...] = ()
    categories: tuple[DataCategory, ...] = ()


class OverrideIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    subject: SubjectIn
    family_key: str | None = None
    override_id: str = Field(default_factory=lambda: str(uuid.uuid4()), min_length=1)
    reason_code: OverrideReason
    reason: str | None = None
    recipients: tuple[str, ...] = Field(min_length=1)
    categories: tuple[DataCategory, ...] = Field(min_length=1)
    expires_at: AwareDatetime


class OverrideEndIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    subject: SubjectIn


class Accepted(BaseModel):
    event_id: uuid.UUID
    event_type: EventType


def sharing_router() -> APIRouter:
    router = APIRouter(tags=["sharing"])

    @router.post("/sharing/consents", status_code=202, response_model=Accepted)
    async def record_consent(body: ConsentIn, reader: Reader, request: Request) -> Accepted:
        """Record a parent's consent (202 once it is durably on the case-event stream)."""
        payload = ConsentRecorded(
            consent_id=body.consent_id,
            recipients=body.recipients,
            categories=body.categories,
            purposes=body.purposes,
            recorded_by=reader.user_id,
            recorded_by_organisation=reader.organisation_code,
            expires_at=body.expires_at,
        )
        return await _publish(request, reader, body.subject, body.family_key, payload)

    @router.post("/sharing/withdrawals", status_code=202, response_model=Accepted)
    async def withdraw_consent(body: WithdrawalIn, reader: Reader, request: Request) -> Accepted:
        """Withdraw consent; the next read and the next push exclude the withdrawn data."""
        payload = ConsentWithdrawn(
            consent_id=body.consent_id,
            recipients=body.recipients,
            categories=body.categories,
            recorded_by=reader.user_id,
            recorded_by_organisation=reader.organisation_code,
        )
        return await _publish(request, reader, body.subject, None, payload)

    @router.post("/sharing/overrides", status_code=202, response_model=Accepted)
    async def record_override(body: OverrideIn, reader: Reader, request: Request) -> Accepted:
        """Record a safeguarding override: statutory organisations only, always with expiry."""
        agreement: Agreement = request.app.state.agreement
        if not agreement.is_statutory(reader.organisation_code):
            raise HTTPException(403, "only a statutory partner may record a safeguarding override")
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
        return await _publish(request, reader, body.subject, body.family_key, payload)

    @router.post("/sharing/overrides/{override_id}/end", status_code=202, response_model=Accepted)
    async def end_override(
        override_id: str, body: OverrideEndIn, reader: Reader, request: Request
    ) -> Accepted:
        """End an override early, on review."""
        payload = SafeguardingOverrideEnded(
            override_id=override_id,
            ended_by=reader.user_id,
            ended_by_organisation=reader.organisation_code,
        )
        return await _publish(request, reader, body.subject, None, payload)

    @router.get(
        "/safeguarding/overrides", summary="Overrides recorded by the reader's organisation"
    )
    async def overrides_for_lead(reader: Reader, request: Request) -> list[dict[str, Any]]:
        """For the designated safeguarding lead / Caldicott guardian, who reviews every one."""
        if reader.role not in GOVERNANCE_ROLES:
            raise HTTPException(403, f"only {sorted(GOVERNANCE_ROLES)} review overrides")
        store: SharingStore = request.app.state.sharing
        shown: list[dict[str, Any]] = []
        disclosures: list[Disclosure] = []
        for override in store.overrides_recorded_by(reader.organisation_code):
            subject = Subject(override.subject_key, override.family_key)
            item = Item(DataCategory.SAFEGUARDING, override.recorded_by_organisation, override)
            outcome = release_now(
                request,
                reader,
                subject,
                [item],
                channel=Channel.NOTIFICATION,
                purpose=Purpose.SAFEGUARDING,
                reference=f"{request.method} {request.url.path}",
            )
            if outcome.disclosure is not None:
                disclosures.append(outcome.disclosure)
            shown.extend(
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
                for o in outcome.released
            )
        await record_disclosures(request, disclosures)
        return shown

    @router.get(
        "/people/{person_key:path}/disclosures",
        summary="Who has seen data about this person: a subject-access style report",
    )
    async def disclosures_about(
        person_key: str, reader: Reader, request: Request
    ) -> dict[str, Any]:
        if reader.role not in GOVERNANCE_ROLES:
            raise HTTPException(403, f"only {sorted(GOVERNANCE_ROLES)} read the disclosure log")
        store: SharingStore = request.app.state.sharing
        identity: IdentityStore = request.app.state.identity
        # Every identifier of the person: what was disclosed under a record merged in since.
        entries = store.disclosures_about(identity.same_person(person_key))
        if not any(involves(entry, reader.organisation_code) for entry in entries):
            # A governance role of an organisation that holds or received nothing about this
            # person learns nothing, not even who else did (that alone can say "known to
            # children's services"): as for a person the hub does not know.
            raise HTTPException(404, "no disclosures about this person involving your organisation")
        now: datetime = request.app.state.clock()
        audit = Disclosure(
            disclosure_id=uuid.uuid4(),
            disclosed_at=now,
            channel=Channel.EXPORT,
            recipient_organisation=reader.organisation_code,
            recipient_role=reader.role,
            recipient_user=reader.user_id,
            subject_key=person_key,
            purpose=Purpose.SAFEGUARDING,
            items=(),
            agreement_version=request.app.state.agreement.version,
            reference=f"GET /people/{person_key}/disclosures",
        )
        await record_disclosures(request, [audit])
        recipients: dict[str, set[str]] = {}
        for entry in entries:
            categories = recipients.setdefault(entry.recipient_organisation, set())
            categories.update(item.category.value for item in entry.items)
        return {
            "subject_key": person_key,
            "generated_at": now,
            "summary": [
                {"organisation": org, "categories": sorted(categories)}
                for org, categories in sorted(recipients.items())
            ],
            "disclosures": [entry.model_dump(mode="json") for entry in entries],
        }

    return router


def involves(entry: Disclosure, organisation: str) -> bool:
    """Whether ``organisation`` controls data the disclosure is about (shared or withheld), or
    received some of it: who may read the person's disclosure log."""
    if entry.recipient_organisation == organisation and entry.items:
        return True
    controllers = {item.controller for item in entry.items}
    return organisation in controllers | {item.controller for item in entry.withheld}


def sharing_context(request: Request) -> SharingContext:
    """The request-free gate-and-record path, built from the app's state."""
    return SharingContext.from_state(request.app.state)


def release_now(
    request: Request,
    reader: Recipient,
    subject: Subject,
    items: Sequence[Item[T]],
    *,
    channel: Channel,
    purpose: Purpose,
    reference: str,
    also: Iterable[str] = (),
) -> Release[T]:
    """The gate for an HTTP read: :meth:`SharingContext.release` with the app's adapters."""
    return sharing_context(request).release(
        reader, subject, items, channel=channel, purpose=purpose, reference=reference, also=also
    )


async def record_disclosures(request: Request, disclosures: list[Disclosure]) -> None:
    """Write every disclosure durably before the response leaves; 503 (and no data) if not."""
    try:
        await sharing_context(request).record(disclosures)
    except PublishError as error:
        raise HTTPException(
            503, f"the disclosure could not be recorded, so nothing was sent: {error}"
        ) from error


async def _publish(
    request: Request,
    reader: Recipient,
    subject: SubjectIn,
    family_key: str | None,
    payload: Payload,
) -> Accepted:
    return await publish_from_api(request, reader, subject.identifiers(), family_key, payload)


async def publish_from_api(
    request: Request,
    reader: Recipient,
    identifiers: tuple[PersonIdentifier, ...],
    family_key: str | None,
    payload: Payload,
    *,
    record_key: str | None = None,
    category: DataCategory | None = None,
    sensitivity: Sensitivity = Sensitivity.RESTRICTED,
) -> Accepted:
    """A fact stated through the API becomes a case-event; 202 only after the broker's ack.

    ``record_key`` names the fact in the event id (default: its consent or override id);
    ``category`` defaults to SAFEGUARDING for overrides and DEMOGRAPHICS otherwise.
    """
    event_type = next(t for t, cls in PAYLOAD_TYPES.items() if isinstance(payload, cls))
    now: datetime = request.app.state.clock()
    record_id = (
        record_key or getattr(payload, "consent_id", None) or getattr(payload, "override_id", None)
    )
    record_id = f"{record_id or uuid.uuid4()}|{event_type}|{now.isoformat()}"
    event = CaseEvent(
        event_id=deterministic_event_id(API_SYSTEM, reader.organisation_code, record_id),
        event_type=event_type,
        occurred_at=now,
        recorded_at=now,
        source=Source(system=API_SYSTEM, organisation_code=reader.organisation_code),
        source_record_id=record_id,
        subject=identifiers,
        family_key=family_key,
        data_category=category
        or (
            DataCategory.SAFEGUARDING
            if isinstance(payload, SafeguardingOverrideRecorded | SafeguardingOverrideEnded)
            else DataCategory.DEMOGRAPHICS
        ),
        sensitivity=sensitivity,
        payload=payload,
    )
    sink: CaseEventSink = request.app.state.sink
    try:
        await sink.publish(event)
    except PublishError as error:
        raise HTTPException(503, f"not recorded, send again: {error}") from error
    store: SharingStore = request.app.state.sharing
    store.record_now(event)
    return Accepted(event_id=event.event_id, event_type=event_type)
