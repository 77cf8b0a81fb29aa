"""The one place a change to sharing is decided (ADR 0019), beside :func:`.policy.decide`.

Recording a consent, withdrawing one, starting or ending a safeguarding override and confirming
that two records are one person all change who may see what, so each is a decision of the
policy, not a write anyone authenticated may make. :func:`decide_change` answers: may this actor
(organisation, role, user) make this change about this person now? PERMIT (apply it), REVIEW
(hold it, not applied, for a person to review) or DENY, with the reason in words and the
agreement rule relied on. It is pure: the agreement, the person's sharing facts and the
organisations *involved* with the person (controllers of a record about them, or with a
practitioner assigned — looked up by the shell) are arguments.

In order, first refusal wins:

1. an organisation outside the agreement changes nothing;
2. a rule of the agreement for this kind of change must name the organisation's kind and the
   actor's role; a system (``PARTNER_SYSTEM``) records a consent only for a named practitioner
   who obtained it, and no consent was obtained after ``at``;
3. if the rule says so, the organisation must be involved with the person;
4. a consent or override names only parties of the recipient kinds the rule allows;
5. an override is ended only by the organisation that recorded it (ending one that has
   expired already is allowed: it narrows nothing further);
6. a consent or override naming the actor's own organisation widens its own access: DENY, or
   REVIEW where the rule says so.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Final

from hub.sharing.agreement import GOVERNANCE_ROLES, Agreement, ChangeKind, ChangeRule, OwnAccess
from hub.sharing.facts import SharingFacts
from hub.sharing.policy import Decision, Recipient, Verdict

SYSTEM_ROLE: Final = "PARTNER_SYSTEM"
# What each change is, in the refusals' words: (the act, the thing).
WORDS: Final = {
    ChangeKind.CONSENT_RECORDED: ("record a consent", "a consent"),
    ChangeKind.CONSENT_WITHDRAWN: ("record a withdrawal of consent", "a withdrawal"),
    ChangeKind.OVERRIDE_STARTED: ("start a safeguarding override", "an override"),
    ChangeKind.OVERRIDE_ENDED: ("end a safeguarding override", "an override's end"),
    ChangeKind.IDENTITY_LINK_CONFIRMED: ("confirm an identity link", "an identity link"),
}
WIDENING: Final = frozenset(
    {ChangeKind.CONSENT_RECORDED, ChangeKind.OVERRIDE_STARTED, ChangeKind.IDENTITY_LINK_CONFIRMED}
)


@dataclass(frozen=True)
class Change:
    """What is to change: its kind, whom it names, and what it refers to."""

    kind: ChangeKind
    recipients: frozenset[str] = frozenset()  # a consent's or an override's recipients
    override_id: str | None = None  # the override an OVERRIDE_ENDED ends
    obtained_by: str | None = None  # a consent: the practitioner who obtained it
    obtained_at: datetime | None = None  # a consent: when she obtained it


def decide_change(
    agreement: Agreement,
    actor: Recipient,
    change: Change,
    facts: SharingFacts,
    involvement: frozenset[str],
    at: datetime,
) -> Decision:
    """Permit, hold for review or deny one change; deny unless a rule permits it."""
    version, code = agreement.version, actor.organisation_code
    act, what = WORDS[change.kind]

    def deny(reason: str, rule: ChangeRule | None = None) -> Decision:
        return Decision(Verdict.DENY, reason, None, version, None if rule is None else rule.name)

    organisation = agreement.organisations.get(code)
    if organisation is None:
        return deny(f"{code} is not party to agreement {version}: it changes nothing")
    rule = next(
        (
            r
            for r in agreement.change_rules
            if r.change is change.kind
            and organisation.kind in r.organisation_kinds
            and actor.role in r.roles
        ),
        None,
    )
    if rule is None:
        return deny(
            f"no rule of agreement {version} lets a {actor.role} of {code} "
            f"({organisation.kind}) {act}"
        )
    if (
        change.kind is ChangeKind.CONSENT_RECORDED
        and actor.role == SYSTEM_ROLE
        and not (change.obtained_by or "").strip()
    ):
        return deny("a system records a consent only for the practitioner who obtained it")
    if change.obtained_at is not None and change.obtained_at > at:
        return deny(f"a consent cannot be obtained in the future ({change.obtained_at})")
    if rule.involved and code not in involvement:
        return deny(
            f"{code} holds no record about this person and has no practitioner assigned",
            rule,
        )
    outside = sorted(
        r
        for r in change.recipients
        if r not in agreement.organisations
        or (rule.recipient_kinds and agreement.organisations[r].kind not in rule.recipient_kinds)
    )
    if outside:
        kinds = "/".join(rule.recipient_kinds) or "party"
        return deny(f"{what} may name only {kinds} organisations of the agreement: {outside}")
    if change.kind is ChangeKind.OVERRIDE_ENDED:
        override = next((o for o in facts.overrides if o.override_id == change.override_id), None)
        if override is None or override.recorded_by_organisation != code:
            # The same answer whether it does not exist or another organisation recorded it:
            # that an override exists is itself safeguarding information.
            return deny(
                f"{code} recorded no override {change.override_id} about this person; an "
                "override is ended only by its own organisation's safeguarding roles",
                rule,
            )
    if change.kind in WIDENING and code in change.recipients:
        if rule.own_organisation is OwnAccess.REVIEW:
            return Decision(
                Verdict.REVIEW,
                f"{what} naming {code}, the recorder's own organisation, is held for review",
                None,
                version,
                rule.name,
            )
        return deny(f"{what} may not widen {code}'s own access", rule)
    return Decision(Verdict.PERMIT, f"rule {rule.name!r}", None, version, rule.name)


def decide_held(
    agreement: Agreement, reviewer: Recipient, held_by: str, involvement: frozenset[str]
) -> Decision:
    """Who may apply or reject a change held for review: a designated safeguarding lead or
    Caldicott guardian of a statutory party involved with the person — the organisations whose
    records would flow — and never of the organisation whose own access the change widens."""
    version, code = agreement.version, reviewer.organisation_code

    def deny(reason: str) -> Decision:
        return Decision(Verdict.DENY, reason, None, version)

    if not agreement.is_statutory(code):
        return deny(f"{code} is not a statutory party to agreement {version}: it reviews nothing")
    if reviewer.role not in GOVERNANCE_ROLES:
        return deny(f"only {sorted(GOVERNANCE_ROLES)} review held changes")
    if code == held_by:
        return deny(f"a change widening {code}'s own access is reviewed by another organisation")
    if code not in involvement:
        return deny(f"{code} holds no record about this person and has no practitioner assigned")
    return Decision(Verdict.PERMIT, f"reviewed by {code}", None, version, "review")
