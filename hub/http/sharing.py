"""HTTP routes for consent, safeguarding overrides and the disclosure log.

Writes change who may see what, so each is first a decision of the policy
(:func:`hub.sharing.changes.decide_change`, ADR 0019): refused is 403 with the reason, held for
review is 202 with status ``review`` and nothing published, permitted becomes a case-event
(accepted with 202 only after the broker's ack), so consent and overrides reach every projection
and every process by the same log. Every attempt is in the change log. Reads go through the
gate and are themselves recorded before they are answered.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any, Final, Literal, TypeVar

from fastapi import APIRouter, Depends, HTTPException, Request
from pydantic import BaseModel, ConfigDict, Field, model_validator
from sqlalchemy.exc import IntegrityError

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
from hub.http.authentication import reader_identity
from hub.http.inputs import Instant
from hub.http.openapi import NOT_FOUND
from hub.identifiers import PersonKey
from hub.identity.store import IdentityStore
from hub.ingest.sink import CaseEventSink
from hub.kafka.publisher import PublishError
from hub.nhs_number import is_valid_nhs_number, normalise_nhs_number
from hub.services.release import SharingContext
from hub.services.sharing_changes import (
    Attempt,
    check_change,
    from_held,
    held_form,
    involved_organisations,
    record_change,
)
from hub.sharing.agreement import GOVERNANCE_ROLES, ChangeKind
from hub.sharing.change_log import ChangeLog, ChangeRecord
from hub.sharing.changes import SYSTEM_ROLE, Change, decide_held
from hub.sharing.disclosure import Channel, Disclosure
from hub.sharing.gate import Item, Release
from hub.sharing.policy import Recipient, Subject, Verdict
from hub.sharing.store import SharingStore

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


class EventAccepted(BaseModel):
    """The answer to a fact stated over the API: the case-event it became."""

    event_id: uuid.UUID
    event_type: EventType


class ChangeAnswer(BaseModel):
    """A change to sharing the policy permitted (``applied``) or held for ``review``; a held
    change a reviewer ``rejected``."""

    status: Literal["applied", "review", "rejected"]
    change_id: uuid.UUID = Field(description="Its entry in the change log.")
    reason: str
    event_id: uuid.UUID | None = Field(default=None, description="The case-event, if applied.")
    event_type: EventType | None = None


class HeldDecision(StrEnum):
    APPLY = "APPLY"
    REJECT = "REJECT"


class HeldDecisionIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    decision: HeldDecision
    reason: str = Field(min_length=1, description="Why, in the reviewer's words.")


CHANGE_RESPONSES: Final[dict[int | str, dict[str, Any]]] = {
    202: {"description": "Applied (on the case-event log), or held for review (not applied)."},
    401: {"description": "No or bad credentials."},
    403: {"description": "The sharing policy refused the change; the reason says why."},
    503: {"description": "Not recorded: the broker did not acknowledge it; send again."},
}


def sharing_router() -> APIRouter:
    router = APIRouter(tags=["sharing"])

    @router.post(
        "/sharing/consents",
        status_code=202,
        response_model=ChangeAnswer,
        responses=CHANGE_RESPONSES,
    )
    async def record_consent(body: ConsentIn, reader: Reader, request: Request) -> ChangeAnswer:
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
        obtained_at = body.obtained_at or request.app.state.clock()
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
        attempt = _attempt(request, reader, body.subject, change, evidence=evidence)
        return await _change(request, attempt, body.subject, body.family_key, payload)

    @router.post(
        "/sharing/withdrawals",
        status_code=202,
        response_model=ChangeAnswer,
        responses=CHANGE_RESPONSES,
    )
    async def withdraw_consent(
        body: WithdrawalIn, reader: Reader, request: Request
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
        attempt = _attempt(request, reader, body.subject, change, justification=body.reason)
        return await _change(request, attempt, body.subject, None, payload)

    @router.post(
        "/sharing/overrides",
        status_code=202,
        response_model=ChangeAnswer,
        responses=CHANGE_RESPONSES,
    )
    async def record_override(body: OverrideIn, reader: Reader, request: Request) -> ChangeAnswer:
        """Record a safeguarding override: safeguarding roles of statutory organisations only,
        always with expiry, never naming their own organisation."""
        change = Change(ChangeKind.OVERRIDE_STARTED, frozenset(body.recipients))
        attempt = _attempt(
            request, reader, body.subject, change, justification=body.reason or body.reason_code
        )
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
        return await _change(request, attempt, body.subject, body.family_key, payload)

    @router.post(
        "/sharing/overrides/{override_id}/end",
        status_code=202,
        response_model=ChangeAnswer,
        responses=CHANGE_RESPONSES,
    )
    async def end_override(
        override_id: str, body: OverrideEndIn, reader: Reader, request: Request
    ) -> ChangeAnswer:
        """End an override early, on review: only its own organisation's safeguarding roles."""
        payload = SafeguardingOverrideEnded(
            override_id=override_id,
            ended_by=reader.user_id,
            ended_by_organisation=reader.organisation_code,
        )
        change = Change(ChangeKind.OVERRIDE_ENDED, override_id=override_id)
        attempt = _attempt(request, reader, body.subject, change, justification=body.reason)
        return await _change(request, attempt, body.subject, None, payload)

    @router.get(
        "/sharing/refused-changes",
        summary="Changes to sharing the reader's organisation tried that were refused or held",
        responses={
            401: {"description": "No or bad credentials."},
            403: {"description": "Not a governance role."},
        },
    )
    def refused_changes(reader: Reader, request: Request) -> list[dict[str, Any]]:
        """For the designated safeguarding lead / Caldicott guardian: every attempt by her
        organisation's people or systems that the policy refused (DENY) or held (REVIEW)."""
        if reader.role not in GOVERNANCE_ROLES:
            raise HTTPException(403, f"only {sorted(GOVERNANCE_ROLES)} review refused changes")
        changes: ChangeLog = request.app.state.changes
        return [
            entry.model_dump(mode="json")
            for entry in changes.held_or_refused(reader.organisation_code)
        ]

    @router.get(
        "/sharing/held-changes",
        summary="Changes held for review that the reader's organisation may decide",
        responses={
            401: {"description": "No or bad credentials."},
            403: {"description": "Not a governance role."},
        },
    )
    def held_changes(reader: Reader, request: Request) -> list[dict[str, Any]]:
        """For the designated safeguarding lead / Caldicott guardian of a statutory party: the
        held changes about people her organisation holds records about or works with."""
        if reader.role not in GOVERNANCE_ROLES:
            raise HTTPException(403, f"only {sorted(GOVERNANCE_ROLES)} review held changes")
        state = request.app.state
        identity: IdentityStore = state.identity
        changes: ChangeLog = state.changes
        return [
            held.model_dump(mode="json")
            for held in changes.held()
            if decide_held(
                state.agreement,
                reader,
                held.organisation_code,
                involved_organisations(state, identity.same_person(held.subject_key)),
            ).permitted
        ]

    @router.post(
        "/sharing/held-changes/{change_id}",
        status_code=202,
        response_model=ChangeAnswer,
        responses={
            **CHANGE_RESPONSES,
            403: {"description": "The reader may not review this change; the reason says why."},
            404: {"description": "No change held for review with this id."},
            409: {"description": "Already applied or rejected."},
        },
    )
    async def review_held_change(
        change_id: uuid.UUID, body: HeldDecisionIn, reader: Reader, request: Request
    ) -> ChangeAnswer:
        """Apply (publish as its recorder made it) or reject a held change, with a reason."""
        state = request.app.state
        changes: ChangeLog = state.changes
        identity: IdentityStore = state.identity
        held = changes.get(change_id)
        if held is None or held.outcome is not Verdict.REVIEW or held.held_event is None:
            raise HTTPException(404, f"no change {change_id} is held for review")
        involvement = involved_organisations(state, identity.same_person(held.subject_key))
        decision = decide_held(state.agreement, reader, held.organisation_code, involvement)
        reviewed = held.model_copy(
            update={
                "change_id": uuid.uuid4(),
                "at": state.clock(),
                "organisation_code": reader.organisation_code,
                "role": reader.role,
                "user_id": reader.user_id,
                "outcome": decision.outcome,
                "reason": decision.reason,
                "rule": decision.authority,
                "channel": "api",
                "justification": body.reason,
                "reference": f"{request.method} {request.url.path}",
                "held_event": None,
            }
        )
        if not decision.permitted:
            changes.record(reviewed)
            raise HTTPException(403, decision.reason)
        if changes.review_of(change_id) is not None:
            raise HTTPException(409, f"change {change_id} was already applied or rejected")
        if body.decision is HeldDecision.REJECT:
            reason = f"held change {change_id} rejected on review by {reader.organisation_code}"
            rejected = reviewed.model_copy(
                update={"outcome": Verdict.DENY, "reason": reason, "review_of": change_id}
            )
            _record_review(changes, rejected)
            return ChangeAnswer(status="rejected", change_id=rejected.change_id, reason=reason)
        payload, subject, family_key = from_held(held.held_event)
        recorder = Recipient(held.organisation_code, held.role, held.user_id)
        accepted = await publish_from_api(request, recorder, subject, family_key, payload)
        reason = f"held change {change_id} applied on review by {reader.organisation_code}"
        applied = reviewed.model_copy(
            update={"reason": reason, "review_of": change_id, "event_id": accepted.event_id}
        )
        _record_review(changes, applied)
        return ChangeAnswer(
            status="applied",
            change_id=applied.change_id,
            reason=reason,
            event_id=accepted.event_id,
            event_type=accepted.event_type,
        )

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
        responses=NOT_FOUND,
    )
    async def disclosures_about(
        person_key: PersonKey, reader: Reader, request: Request
    ) -> dict[str, Any]:
        if reader.role not in GOVERNANCE_ROLES:
            raise HTTPException(403, f"only {sorted(GOVERNANCE_ROLES)} read the disclosure log")
        store: SharingStore = request.app.state.sharing
        identity: IdentityStore = request.app.state.identity
        changes: ChangeLog = request.app.state.changes
        # Every identifier of the person: what was disclosed under a record merged in since.
        keys = identity.same_person(person_key)
        entries = store.disclosures_about(keys)
        if not any(
            involves(entry, reader.organisation_code) for entry in entries
        ) and reader.organisation_code not in involved_organisations(request.app.state, keys):
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
            # Every attempt to change who may see her data: applied, held or refused.
            "changes": [c.model_dump(mode="json") for c in changes.about(keys)],
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


def _record_review(changes: ChangeLog, entry: ChangeRecord) -> None:
    try:
        changes.record(entry)
    except IntegrityError:  # another reviewer decided it at the same moment
        raise HTTPException(
            409, f"change {entry.review_of} was already applied or rejected"
        ) from None


def _attempt(
    request: Request,
    reader: Recipient,
    subject: SubjectIn,
    change: Change,
    *,
    justification: str | None = None,
    evidence: dict[str, Any] | None = None,
) -> Attempt:
    return Attempt(
        reader,
        change,
        subject.identifiers()[0].key(),
        channel="api",
        reference=f"{request.method} {request.url.path}",
        justification=justification,
        evidence=evidence or {},
    )


async def _change(
    request: Request,
    attempt: Attempt,
    subject: SubjectIn,
    family_key: str | None,
    payload: Payload,
) -> ChangeAnswer:
    """Decide the change; 403 if refused, hold it if for review, else publish it. Recorded in
    the change log whatever the outcome (a failed publish is not a change: 503, send again)."""
    state = request.app.state
    decision = check_change(state, attempt)
    if decision.outcome is Verdict.DENY:
        record_change(state, attempt, decision)
        raise HTTPException(403, decision.reason)
    if decision.outcome is Verdict.REVIEW:
        event_type = next(t for t, cls in PAYLOAD_TYPES.items() if isinstance(payload, cls))
        held = held_form(event_type, payload, subject.identifiers(), family_key)
        entry = record_change(state, attempt, decision, held=held)
        return ChangeAnswer(status="review", change_id=entry.change_id, reason=decision.reason)
    accepted = await publish_from_api(
        request, attempt.actor, subject.identifiers(), family_key, payload
    )
    entry = record_change(state, attempt, decision, event_id=accepted.event_id)
    return ChangeAnswer(
        status="applied",
        change_id=entry.change_id,
        reason=decision.reason,
        event_id=accepted.event_id,
        event_type=accepted.event_type,
    )


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
) -> EventAccepted:
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
    # The app's sink has folded a sharing fact into the store already (CaseEventSink.publish).
    return EventAccepted(event_id=event.event_id, event_type=event_type)
