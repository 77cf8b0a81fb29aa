"""The one place sharing is decided.

:func:`decide` answers a single question — may this recipient (organisation and role), for this
purpose, see this category of data about this subject, at this time? — with permit, deny or
review, the reason in words, and the lawful basis. It is pure: the agreement and the subject's
consent/override facts are arguments, so the answer can be tested table by table and is the
same in the API, alerts, webhooks, partner topics and exports (they all call it through
:mod:`hub.sharing.gate`). What is *done* with a decision (redacting a view) is separate, as in
HAPI FHIR's ``IConsentService``.

Order of reasons, first permit wins:

1. the recipient is the record's controller (its own data);
2. a flow of the agreement on a statutory basis (public task) — a flow ``between`` one
   nation's organisations only when the record's controller and the recipient are both of it
   (ADR 0033);
3. a flow on consent, with a live consent covering recipient, category and purpose;
4. an active safeguarding override naming the recipient and category (purposes: direct care
   and safeguarding only) — it widens sharing only as stated.

Otherwise a matching flow marked ``review`` gives REVIEW, and anything else is DENY: deny is the
default, including for organisations not party to the agreement.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Final

from hub.practitioners import PractitionerRef
from hub.sharing.agreement import Agreement, Flow
from hub.sharing.facts import Consent, Override, SharingFacts
from hub.vocabulary import DataCategory, LawfulBasis, Purpose

OVERRIDE_PURPOSES: Final = frozenset({Purpose.DIRECT_CARE, Purpose.SAFEGUARDING})


class Verdict(StrEnum):
    """What the policy decided of one request (or one change of sharing): share it, refuse it,
    or hold it for a person to review."""

    PERMIT = "PERMIT"
    DENY = "DENY"
    REVIEW = "REVIEW"


@dataclass(frozen=True)
class Recipient:
    organisation_code: str
    role: str
    user_id: str

    @property
    def practitioner(self) -> PractitionerRef:
        """The reader as a practitioner: the user id means something only in its organisation."""
        return PractitionerRef(
            organisation_code=self.organisation_code, practitioner_id=self.user_id
        )


@dataclass(frozen=True)
class Subject:
    """Whom the data is about: a person, and the family they are in, if known."""

    person_key: str
    family_key: str | None = None


@dataclass(frozen=True)
class Request:
    recipient: Recipient
    purpose: Purpose
    category: DataCategory
    subject: Subject
    controller: str  # organisation code of the source that owns the record
    at: datetime


@dataclass(frozen=True)
class Decision:
    outcome: Verdict
    reason: str
    basis: LawfulBasis | None
    agreement_version: str
    authority: str | None = None  # the flow, consent id or override id relied on

    @property
    def permitted(self) -> bool:
        return self.outcome is Verdict.PERMIT


def decide(agreement: Agreement, facts: SharingFacts, request: Request) -> Decision:
    """Permit, deny or review one request; deny unless a reason to share is found."""
    recipient, version = request.recipient, agreement.version
    organisation = agreement.organisations.get(recipient.organisation_code)
    if organisation is None:
        return Decision(
            Verdict.DENY,
            f"{recipient.organisation_code} is not party to agreement {version}",
            None,
            version,
        )
    if recipient.organisation_code == request.controller:
        return Decision(
            Verdict.PERMIT, "the organisation's own record", LawfulBasis.CONTROLLER, version
        )
    flows = [
        f
        for f in _flows_for(agreement, request.category, request.purpose)
        if _recipient_matches(f, organisation.kind, recipient)
        and (
            f.between is None
            or agreement.applies_between(f, request.controller, recipient.organisation_code)
        )
    ]
    for flow in flows:
        if flow.basis is LawfulBasis.PUBLIC_TASK and not flow.review:
            return Decision(
                Verdict.PERMIT, f"flow {flow.name!r}", LawfulBasis.PUBLIC_TASK, version, flow.name
            )
    consent_flows = [f for f in flows if f.basis is LawfulBasis.CONSENT and not f.review]
    withdrawn_reason: str | None = None
    if consent_flows:
        consent, withdrawn_reason = _live_consent(facts, request)
        if consent is not None:
            return Decision(
                Verdict.PERMIT,
                f"consent {consent.consent_id} under flow {consent_flows[0].name!r}",
                LawfulBasis.CONSENT,
                version,
                consent.consent_id,
            )
    override = _active_override(facts, request)
    if override is not None:
        return Decision(
            Verdict.PERMIT,
            f"safeguarding override {override.override_id} ({override.reason_code}) "
            f"until {override.expires_at.isoformat()}",
            LawfulBasis.SAFEGUARDING,
            version,
            override.override_id,
        )
    review = next((f for f in flows if f.review), None)
    if review is not None:
        return Decision(
            Verdict.REVIEW,
            f"flow {review.name!r} needs a person to review each request",
            review.basis,
            version,
            review.name,
        )
    if consent_flows:
        return Decision(
            Verdict.DENY,
            withdrawn_reason
            or f"no consent covers {recipient.organisation_code} "
            f"seeing {request.category} for {request.purpose}",
            None,
            version,
        )
    return Decision(
        Verdict.DENY,
        f"no flow in agreement {version} lets {recipient.organisation_code} "
        f"({organisation.kind}, {recipient.role}) see {request.category} for {request.purpose}",
        None,
        version,
    )


def changes_at(facts: SharingFacts) -> tuple[datetime, ...]:
    """The instants at which :func:`decide` on ``facts`` may change its answer, sorted.

    ``decide`` depends on ``request.at`` only through comparisons ``instant <= at`` with these
    (a consent given and expiring, a withdrawal binding, an override starting, expiring and
    ended), so for two times with as many of them at or before each — the same
    ``bisect_right`` — every decision on the same facts and request is the same. What
    :class:`hub.sharing.memo.DecisionMemo` keys its plans by.
    """
    instants: set[datetime] = set()
    for consent in facts.consents:
        instants.add(consent.given_at)
        if consent.expires_at is not None:
            instants.add(consent.expires_at)
    instants.update(withdrawal.at for withdrawal in facts.withdrawals)
    for o in facts.overrides:
        instants.update((o.starts_at, o.expires_at))
        if o.ended_at is not None:
            instants.add(o.ended_at)
    return tuple(sorted(instants))


def _flows_for(agreement: Agreement, category: DataCategory, purpose: Purpose) -> tuple[Flow, ...]:
    """The agreement's flows of ``category`` for ``purpose``, in the agreement's order: indexed
    once per agreement instead of scanned per decision."""
    entry = _FLOW_INDEX.get(id(agreement))
    if entry is None or entry[0] is not agreement:
        index: dict[tuple[DataCategory, Purpose], list[Flow]] = {}
        for flow in agreement.flows:
            for pair in dict.fromkeys((c, p) for c in flow.categories for p in flow.purposes):
                index.setdefault(pair, []).append(flow)
        if len(_FLOW_INDEX) >= _INDEXED_AGREEMENTS:
            _FLOW_INDEX.clear()
        entry = (agreement, {pair: tuple(flows) for pair, flows in index.items()})
        _FLOW_INDEX[id(agreement)] = entry
    return entry[1].get((category, purpose), ())


# Agreements are immutable (frozen models): an index is kept per instance, the instance kept
# with it so that its id is not reused while the entry lives. Processes hold one or two.
_INDEXED_AGREEMENTS: Final = 16
_FLOW_INDEX: dict[int, tuple[Agreement, dict[tuple[DataCategory, Purpose], tuple[Flow, ...]]]] = {}


def _recipient_matches(flow: Flow, kind: object, recipient: Recipient) -> bool:
    return (
        kind in flow.recipient_kinds or recipient.organisation_code in flow.recipient_organisations
    ) and (not flow.roles or recipient.role in flow.roles)


def _about(fact: Consent | Override, subject: Subject) -> bool:
    return fact.subject_key == subject.person_key or (
        subject.family_key is not None and fact.family_key == subject.family_key
    )


def _live_consent(facts: SharingFacts, request: Request) -> tuple[Consent | None, str | None]:
    """A consent in force at ``request.at``; else why the last matching one is not."""
    organisation, category, at = request.recipient.organisation_code, request.category, request.at
    # Why the last matching consent is not in force, put in words only if none is.
    last: tuple[str, str, datetime] | None = None
    for consent in facts.consents:
        if not (
            _about(consent, request.subject)
            and organisation in consent.recipients
            and category in consent.categories
            and request.purpose in consent.purposes
            and consent.given_at <= at
        ):
            continue
        if consent.expires_at is not None and at >= consent.expires_at:
            last = (consent.consent_id, "expired", consent.expires_at)
            continue
        withdrawal = next(
            (
                w
                for w in facts.withdrawals
                if w.at <= at and w.covers(consent, organisation, category)
            ),
            None,
        )
        if withdrawal is not None:
            last = (consent.consent_id, "withdrawn", withdrawal.at)
            continue
        return consent, None
    if last is None:
        return None, None
    consent_id, why, when = last
    return None, f"consent {consent_id} {why} at {when.isoformat()}"


def _active_override(facts: SharingFacts, request: Request) -> Override | None:
    if request.purpose not in OVERRIDE_PURPOSES:
        return None
    return next(
        (
            o
            for o in facts.overrides
            if _about(o, request.subject)
            and o.active_at(request.at)
            and request.recipient.organisation_code in o.recipients
            and request.category in o.categories
        ),
        None,
    )
