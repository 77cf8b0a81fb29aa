"""A change to sharing asked for through the API: decided, then refused, held or published.

Consent, withdrawal and overrides change who may see what, so each is first a decision of the
policy (:func:`hub.sharing.changes.decide_change`, ADR 0019) taken by
:func:`~hub.services.sharing_changes.check_change`: refused is a
:class:`~hub.services.errors.ForbiddenError` with the reason; held for review publishes nothing
and keeps what would have been published; permitted becomes a case-event
(:func:`~hub.services.statements.publish_statement`). A held change is later applied — published
as its recorder made it — or rejected by a governance role of an organisation involved with the
person (:func:`review_held_change`). Every attempt and every review is a row of the change log,
whatever became of it; a failed publish is not a change (nothing logged: send again).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Literal

from sqlalchemy.exc import IntegrityError

from hub.events import EventType
from hub.ingest.sink import CaseEventSink
from hub.payloads import Payload, PersonIdentifier
from hub.services.errors import ConflictError, ForbiddenError, NotFoundError
from hub.services.sharing_changes import (
    Attempt,
    ChangeStores,
    check_change,
    from_held,
    held_form,
    involved_organisations,
    record_change,
)
from hub.services.statements import event_type_of, publish_statement
from hub.sharing.change_log import ChangeLog, ChangeRecord
from hub.sharing.changes import decide_held
from hub.sharing.policy import Recipient, Verdict


@dataclass(frozen=True)
class ChangeResult:
    """What became of a change: ``applied`` (with its case-event), held for ``review``, or a
    held one ``rejected`` on review; ``change_id`` is its entry in the change log."""

    status: Literal["applied", "review", "rejected"]
    change_id: uuid.UUID
    reason: str
    event_id: uuid.UUID | None = None
    event_type: EventType | None = None


async def request_change(
    stores: ChangeStores,
    sink: CaseEventSink,
    attempt: Attempt,
    identifiers: tuple[PersonIdentifier, ...],
    family_key: str | None,
    payload: Payload,
) -> ChangeResult:
    """Decide ``attempt``; refuse it, hold it for review, or publish ``payload``. Recorded in the
    change log whatever the outcome."""
    decision = check_change(stores, attempt)
    if decision.outcome is Verdict.DENY:
        record_change(stores, attempt, decision)
        raise ForbiddenError(decision.reason)
    if decision.outcome is Verdict.REVIEW:
        held = held_form(event_type_of(payload), payload, identifiers, family_key)
        entry = record_change(stores, attempt, decision, held=held)
        return ChangeResult(status="review", change_id=entry.change_id, reason=decision.reason)
    stated = await publish_statement(
        sink, stores.clock, attempt.actor, identifiers, family_key, payload
    )
    entry = record_change(stores, attempt, decision, event_id=stated.event_id)
    return ChangeResult(
        status="applied",
        change_id=entry.change_id,
        reason=decision.reason,
        event_id=stated.event_id,
        event_type=stated.event_type,
    )


def involvement_of(stores: ChangeStores, subject_key: str) -> frozenset[str]:
    """The organisations involved with the person ``subject_key`` names, under all her keys."""
    keys = stores.identity.same_person(subject_key)
    return involved_organisations(stores.team, stores.alerts, keys)


def reviewable_by(stores: ChangeStores, reader: Recipient) -> list[ChangeRecord]:
    """The held changes ``reader`` may decide: about people her organisation is involved with."""
    return [
        held
        for held in stores.changes.held()
        if decide_held(
            stores.agreement,
            reader,
            held.organisation_code,
            involvement_of(stores, held.subject_key),
        ).permitted
    ]


async def review_held_change(
    stores: ChangeStores,
    sink: CaseEventSink,
    reader: Recipient,
    change_id: uuid.UUID,
    *,
    apply: bool,
    justification: str,
    reference: str,
) -> ChangeResult:
    """Apply (publish as its recorder made it) or reject a held change, with a reason.

    :class:`NotFoundError` when nothing is held under ``change_id``; :class:`ForbiddenError`
    (logged) when ``reader`` may not review it; :class:`ConflictError` when it was already
    applied or rejected.
    """
    changes = stores.changes
    held = changes.get(change_id)
    if held is None or held.outcome is not Verdict.REVIEW or held.held_event is None:
        raise NotFoundError(f"no change {change_id} is held for review")
    involvement = involvement_of(stores, held.subject_key)
    decision = decide_held(stores.agreement, reader, held.organisation_code, involvement)
    reviewed = held.model_copy(
        update={
            "change_id": uuid.uuid4(),
            "at": stores.clock(),
            "organisation_code": reader.organisation_code,
            "role": reader.role,
            "user_id": reader.user_id,
            "outcome": decision.outcome,
            "reason": decision.reason,
            "rule": decision.authority,
            "channel": "api",
            "justification": justification,
            "reference": reference,
            "held_event": None,
        }
    )
    if not decision.permitted:
        changes.record(reviewed)
        raise ForbiddenError(decision.reason)
    if changes.review_of(change_id) is not None:
        raise ConflictError(f"change {change_id} was already applied or rejected")
    if not apply:
        reason = f"held change {change_id} rejected on review by {reader.organisation_code}"
        rejected = reviewed.model_copy(
            update={"outcome": Verdict.DENY, "reason": reason, "review_of": change_id}
        )
        _record_review(changes, rejected)
        return ChangeResult(status="rejected", change_id=rejected.change_id, reason=reason)
    payload, subject, family_key = from_held(held.held_event)
    recorder = Recipient(held.organisation_code, held.role, held.user_id)
    stated = await publish_statement(sink, stores.clock, recorder, subject, family_key, payload)
    reason = f"held change {change_id} applied on review by {reader.organisation_code}"
    applied = reviewed.model_copy(
        update={"reason": reason, "review_of": change_id, "event_id": stated.event_id}
    )
    _record_review(changes, applied)
    return ChangeResult(
        status="applied",
        change_id=applied.change_id,
        reason=reason,
        event_id=stated.event_id,
        event_type=stated.event_type,
    )


def _record_review(changes: ChangeLog, entry: ChangeRecord) -> None:
    try:
        changes.record(entry)
    except IntegrityError:  # another reviewer decided it at the same moment
        raise ConflictError(f"change {entry.review_of} was already applied or rejected") from None
