"""The shell around :func:`hub.sharing.changes.decide_change`: look up, decide, record, log.

Every route or connector that changes who may see what calls :func:`check_change` before it
publishes anything, and :func:`record_change` once it knows what became of the change. The
lookups are here, not in the decision: the person's other identifier keys (merges), their
sharing facts, and the organisations *involved* with them — the controller of any record the
hub holds about them (team items, missed-appointment alerts) and the organisation of any
practitioner assigned to them. A refusal or a hold is never silent: it is a row in the change
log (listed to the organisation's safeguarding lead at ``GET /sharing/refused-changes``) and a
structured log line (no identifiers of the person: the change id finds the row).
"""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from hub.alerts.store import MissedAppointmentStore
from hub.connectors.outcomes import Mapped, Outcome, Refused
from hub.events import PAYLOAD_TYPES, CaseEvent, EventType
from hub.identity.store import IdentityStore
from hub.payloads import ConsentRecorded, ConsentWithdrawn, Payload, PersonIdentifier
from hub.sharing.agreement import Agreement, ChangeKind
from hub.sharing.change_log import ChangeLog, ChangeRecord
from hub.sharing.changes import SYSTEM_ROLE, Change, decide_change
from hub.sharing.policy import Decision, Recipient, Subject, Verdict
from hub.sharing.store import SharingStore
from hub.team.fold import Involvement
from hub.team.store import TeamStore

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Attempt:
    """A change someone asked for, with what the record of it needs besides the decision."""

    actor: Recipient
    change: Change
    subject_key: str  # the identifier key of the person the change is about
    channel: str  # "api", "webhook" or "upload"
    reference: str  # the route, or the webhook id
    justification: str | None = None
    evidence: dict[str, Any] = field(default_factory=dict)
    change_id: uuid.UUID = field(default_factory=uuid.uuid4)


@dataclass(frozen=True)
class ChangeStores:
    """What deciding and logging a change to sharing reads and writes: the agreement, the
    person index (merges), the sharing facts, the records that involve an organisation with the
    person (team items, alerts), the change log, and the clock the decision is taken by."""

    agreement: Agreement
    identity: IdentityStore
    sharing: SharingStore
    team: TeamStore
    alerts: MissedAppointmentStore
    changes: ChangeLog
    clock: Callable[[], datetime]


def involved_organisations(
    team: TeamStore, alerts: MissedAppointmentStore, keys: Sequence[str]
) -> frozenset[str]:
    """Organisations that control a record about the person or have a practitioner assigned."""
    found: set[str] = set()
    for items in team.items_of(keys).values():
        for item in items:
            found.add(item.controller)
            if isinstance(item.body, Involvement):
                found.add(item.body.organisation_code)
    found.update(view.alert.organisation_code for key in keys for view in alerts.alerts_about(key))
    return frozenset(found)


def check_change(
    stores: ChangeStores, attempt: Attempt, also_involved: frozenset[str] = frozenset()
) -> Decision:
    """The policy's answer for ``attempt`` now; ``also_involved``: organisations involved by
    records accepted with the change but not yet folded into the stores (earlier rows of the
    same upload)."""
    keys = stores.identity.same_person(attempt.subject_key)
    facts = stores.sharing.facts_for(Subject(attempt.subject_key), also=keys)
    involvement = involved_organisations(stores.team, stores.alerts, keys) | also_involved
    return decide_change(
        stores.agreement, attempt.actor, attempt.change, facts, involvement, stores.clock()
    )


def record_change(
    stores: ChangeStores,
    attempt: Attempt,
    decision: Decision,
    *,
    event_id: uuid.UUID | None = None,
    held: dict[str, Any] | None = None,
) -> ChangeRecord:
    """Write the attempt and its outcome to the change log; log refusals and holds.

    ``event_id``: the case-event published (PERMIT); ``held``: what would have been published
    (REVIEW), kept so a reviewer sees exactly what was asked.
    """
    actor = attempt.actor
    entry = ChangeRecord(
        change_id=attempt.change_id,
        at=stores.clock(),
        kind=attempt.change.kind,
        subject_key=attempt.subject_key,
        organisation_code=actor.organisation_code,
        role=actor.role,
        user_id=actor.user_id,
        outcome=decision.outcome,
        reason=decision.reason,
        rule=decision.authority,
        agreement_version=decision.agreement_version,
        channel=attempt.channel,
        justification=attempt.justification,
        evidence=attempt.evidence,
        recipients=tuple(sorted(attempt.change.recipients)),
        reference=attempt.reference,
        event_id=event_id,
        held_event=held,
    )
    stores.changes.record(entry)
    if not decision.permitted:
        line = {
            "change_id": str(entry.change_id),
            "outcome": entry.outcome.value,
            "kind": entry.kind.value,
            "organisation": entry.organisation_code,
            "role": entry.role,
            "user": entry.user_id,
            "reason": entry.reason,
            "channel": entry.channel,
        }
        log.warning("sharing change not applied %s", json.dumps(line, sort_keys=True))
    return entry


def held_form(
    event_type: EventType,
    payload: Payload,
    subject: Sequence[PersonIdentifier],
    family_key: str | None,
) -> dict[str, Any]:
    """What a held change keeps of the event it did not publish, to publish it on review."""
    return {
        "event_type": event_type.value,
        "payload": payload.model_dump(mode="json"),
        "subject": [i.model_dump(mode="json") for i in subject],
        "family_key": family_key,
    }


def from_held(held: dict[str, Any]) -> tuple[Payload, tuple[PersonIdentifier, ...], str | None]:
    """The payload, subject and family of a held change (:func:`held_form`, read back)."""
    payload = PAYLOAD_TYPES[EventType(held["event_type"])].model_validate(held["payload"])
    subject = tuple(PersonIdentifier.model_validate(i) for i in held["subject"])
    return payload, subject, held["family_key"]  # type: ignore[return-value]


def screen_partner_changes(
    stores: ChangeStores,
    organisation: str,
    outcomes: Sequence[Outcome],
    reference: str,
    channel: str,
) -> list[Outcome]:
    """A partner's mapped records with every consent or withdrawal in them decided first.

    The actor is the partner's organisation, as its system (``PARTNER_SYSTEM``), for the
    practitioner the record names (``recorded_by``: who obtained the consent). A refused change
    turns its record into a refusal (quarantined with the reason, like any refused input); a
    held one is left out of what is published. Both are in the change log.

    A record earlier in the same delivery that the partner controls (a referral accepted, a key
    worker allocated) involves the partner with its person for the rows after it, as it will
    once the worker has folded it: a file that allocates a key worker and then records the
    parent's withdrawal is not refused for the order in which the hub applies it.
    """
    screened: list[Outcome] = []
    controls: set[str] = set()  # subject keys of this delivery's records already kept
    for outcome in outcomes:
        if not isinstance(outcome, Mapped):
            screened.append(outcome)
            continue
        kept: list[CaseEvent] = []
        refusals: list[tuple[str, str]] = []
        for event in outcome.events:
            payload = event.payload
            if not isinstance(payload, ConsentRecorded | ConsentWithdrawn):
                kept.append(event)
                controls.add(event.subject_key())
                continue
            recorded = isinstance(payload, ConsentRecorded)
            change = Change(
                ChangeKind.CONSENT_RECORDED if recorded else ChangeKind.CONSENT_WITHDRAWN,
                frozenset(payload.recipients),
                obtained_by=payload.recorded_by if recorded else None,
                obtained_at=event.occurred_at if recorded else None,
            )
            attempt = Attempt(
                Recipient(organisation, SYSTEM_ROLE, payload.recorded_by),
                change,
                event.subject_key(),
                channel=channel,
                reference=reference,
                evidence={"recorded_by": payload.recorded_by, "source": event.source_record_id},
            )
            earlier = frozenset({organisation}) if attempt.subject_key in controls else frozenset()
            decision = check_change(stores, attempt, also_involved=earlier)
            if decision.outcome is Verdict.DENY:
                record_change(stores, attempt, decision)
                refusals.append(("event", f"refused by the sharing policy: {decision.reason}"))
            elif decision.outcome is Verdict.REVIEW:
                held = held_form(event.event_type, payload, event.subject, event.family_key)
                record_change(stores, attempt, decision, held=held)
            else:
                record_change(stores, attempt, decision, event_id=event.event_id)
                kept.append(event)
        if refusals:
            screened.append(Refused(outcome.record, tuple(refusals)))
        else:
            screened.append(Mapped(outcome.record, tuple(kept)))
    return screened
