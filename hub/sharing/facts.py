"""Consents, withdrawals and safeguarding overrides, folded from case-events.

These are the facts the policy decides on besides the agreement. They are kept as a history
rather than a current flag, so that a decision can be asked "at time T" and the answer is the
same whenever the question is asked: withdrawing consent stops sharing from the moment of
withdrawal on, and a projection rebuilt later still reads today's facts at read time.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, replace
from datetime import datetime

from hub.events import CaseEvent
from hub.payloads import (
    ConsentRecorded,
    ConsentWithdrawn,
    SafeguardingOverrideEnded,
    SafeguardingOverrideRecorded,
)
from hub.practitioners import PractitionerRef, acted_by
from hub.vocabulary import DataCategory, OverrideReason, Purpose


@dataclass(frozen=True)
class Consent:
    consent_id: str
    subject_key: str
    family_key: str | None
    recipients: frozenset[str]
    categories: frozenset[DataCategory]
    purposes: frozenset[Purpose]
    given_at: datetime
    expires_at: datetime | None
    recorded_by: PractitionerRef  # who obtained it, as (organisation, id)
    source_organisation: str


@dataclass(frozen=True)
class Withdrawal:
    """Withdraws the matching consents given before ``at``; empty sets mean all.

    ``event_id`` is the statement's: a partner's row sent again (a re-uploaded file, a webhook
    re-sent under a new id) has the same id, and must not become a second, later withdrawal
    covering a consent given again in between.
    """

    subject_key: str
    consent_id: str | None
    recipients: frozenset[str]
    categories: frozenset[DataCategory]
    at: datetime
    event_id: uuid.UUID | None = None

    def covers(self, consent: Consent, recipient: str, category: DataCategory) -> bool:
        return (
            consent.given_at <= self.at
            and consent.subject_key == self.subject_key
            and self.consent_id in (None, consent.consent_id)
            and (not self.recipients or recipient in self.recipients)
            and (not self.categories or category in self.categories)
        )


@dataclass(frozen=True)
class Override:
    override_id: str
    subject_key: str
    family_key: str | None
    recorded_by: str
    recorded_by_organisation: str
    reason_code: OverrideReason
    reason: str | None
    recipients: frozenset[str]
    categories: frozenset[DataCategory]
    starts_at: datetime
    expires_at: datetime
    ended_at: datetime | None = None

    def active_at(self, at: datetime) -> bool:
        end = self.expires_at if self.ended_at is None else min(self.expires_at, self.ended_at)
        return self.starts_at <= at < end


@dataclass(frozen=True)
class SharingFacts:
    consents: tuple[Consent, ...] = ()
    withdrawals: tuple[Withdrawal, ...] = ()
    overrides: tuple[Override, ...] = ()


SHARING_PAYLOADS = (
    ConsentRecorded,
    ConsentWithdrawn,
    SafeguardingOverrideRecorded,
    SafeguardingOverrideEnded,
)


def withdrawal_takes_effect(event: CaseEvent) -> datetime:
    """A withdrawal binds from when the hub received it (``recorded_at``), whatever it is dated.

    A partner dates a withdrawal by day (``occurred_on``, kept on the event as stated), which
    as an instant is midnight. Back-dated to midnight it would not cover a consent given that
    morning (a withdrawal covers only consents given before it), so it would silently not bite;
    and the reads made before it arrived were permitted when made and are on the disclosure
    log as such: the hub cannot unshare them. Dated later than its arrival it would leave data
    flowing that the parent asked to stop. The API's withdrawals are received as they occur.
    """
    return event.recorded_at


def fold_sharing(facts: SharingFacts, event: CaseEvent) -> SharingFacts:
    """Add what a consent or override event says; other events leave the facts as they are."""
    payload, key = event.payload, event.subject_key()
    if isinstance(payload, ConsentRecorded):
        consent = Consent(
            consent_id=payload.consent_id,
            subject_key=key,
            family_key=event.family_key,
            recipients=frozenset(payload.recipients),
            categories=frozenset(payload.categories),
            purposes=frozenset(payload.purposes),
            given_at=event.occurred_at,
            expires_at=payload.expires_at,
            recorded_by=acted_by(event, payload.recorded_by, payload.recorded_by_organisation),
            source_organisation=event.source.organisation_code,
        )
        if consent in facts.consents:
            return facts
        return replace(facts, consents=(*facts.consents, consent))
    if isinstance(payload, ConsentWithdrawn):
        withdrawal = Withdrawal(
            subject_key=key,
            consent_id=payload.consent_id,
            recipients=frozenset(payload.recipients),
            categories=frozenset(payload.categories),
            at=withdrawal_takes_effect(event),
            event_id=event.event_id,
        )
        if any(w.event_id == event.event_id or w == withdrawal for w in facts.withdrawals):
            return facts
        return replace(facts, withdrawals=(*facts.withdrawals, withdrawal))
    if isinstance(payload, SafeguardingOverrideRecorded):
        override = Override(
            override_id=payload.override_id,
            subject_key=key,
            family_key=event.family_key,
            recorded_by=payload.recorded_by,
            recorded_by_organisation=payload.recorded_by_organisation,
            reason_code=payload.reason_code,
            reason=payload.reason,
            recipients=frozenset(payload.recipients),
            categories=frozenset(payload.categories),
            starts_at=event.occurred_at,
            expires_at=payload.expires_at,
        )
        if any(o.override_id == override.override_id for o in facts.overrides):
            return facts
        return replace(facts, overrides=(*facts.overrides, override))
    if isinstance(payload, SafeguardingOverrideEnded):
        overrides = tuple(
            replace(o, ended_at=event.occurred_at)
            if o.override_id == payload.override_id and o.ended_at is None
            else o
            for o in facts.overrides
        )
        return replace(facts, overrides=overrides)
    return facts
