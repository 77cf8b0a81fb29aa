"""Who may change who may see what: :func:`hub.sharing.changes.decide_change`, table by table.

The agreement is the repository's own ``config/sharing/agreement.toml``. The first table is every
kind of change x every known role x each kind of organisation, involved with the person or not,
and an organisation outside the agreement; its expectations come from :func:`expected`, the
rules of ADR 0019 written out again here, not from the code under test. The second table is
what an attacker (and a careless partner system) would try.
"""

from __future__ import annotations

import itertools
from dataclasses import replace
from datetime import timedelta

import pytest

from hub.sharing.agreement import KNOWN_ROLES, ChangeKind, load_agreement
from hub.sharing.changes import Change, decide_change, decide_held
from hub.sharing.facts import SharingFacts, fold_sharing
from hub.sharing.policy import Recipient, Verdict
from tests.builders import HOME_START, SALFORD_COUNCIL, T0, override

AGREEMENT = load_agreement()
WOMENS_AID = "VCS-WOMENSAID-MCR"
TRUST, OUTSIDE = "R0A", "RX9"
KINDS = {TRUST: "NHS", SALFORD_COUNCIL: "LOCAL_AUTHORITY", HOME_START: "VOLUNTARY", OUTSIDE: None}
NOW = T0 + timedelta(hours=1)
FACTS = fold_sharing(SharingFacts(), override("ovr-1", (HOME_START,)))  # recorded by the council

PRACTITIONERS = {
    "COMMUNITY_MIDWIFE",
    "PROGRAMME_MIDWIFE",
    "SPECIALIST_MIDWIFE",
    "SAFEGUARDING_MIDWIFE",
    "HEALTH_VISITOR",
    "GP",
    "SOCIAL_WORKER",
    "LEAD_PRACTITIONER",
}
SAFEGUARDING = {"SAFEGUARDING_MIDWIFE", "SOCIAL_WORKER", "DESIGNATED_SAFEGUARDING_LEAD"}
# The change each row asks for; none names the actor's own organisation (see the attacks).
CHANGES = {
    ChangeKind.CONSENT_RECORDED: Change(
        ChangeKind.CONSENT_RECORDED, frozenset({WOMENS_AID}), obtained_by="the-practitioner"
    ),
    ChangeKind.CONSENT_WITHDRAWN: Change(ChangeKind.CONSENT_WITHDRAWN),
    ChangeKind.OVERRIDE_STARTED: Change(ChangeKind.OVERRIDE_STARTED, frozenset({WOMENS_AID})),
    ChangeKind.OVERRIDE_ENDED: Change(ChangeKind.OVERRIDE_ENDED, override_id="ovr-1"),
    ChangeKind.IDENTITY_LINK_CONFIRMED: Change(ChangeKind.IDENTITY_LINK_CONFIRMED),
}


def expected(kind: ChangeKind, organisation: str, role: str, involved: bool) -> Verdict:
    """ADR 0019's rules, restated."""
    org_kind = KINDS[organisation]
    statutory = org_kind in ("NHS", "LOCAL_AUTHORITY")
    if org_kind is None:
        return Verdict.DENY  # outside the agreement: changes nothing
    if kind is ChangeKind.CONSENT_RECORDED:
        roles = (
            PRACTITIONERS | {"PARTNER_SYSTEM"}
            if statutory
            else {"KEY_WORKER", "LEAD_PRACTITIONER", "PARTNER_SYSTEM"}
        )
        ok = involved and role in roles
    elif kind is ChangeKind.CONSENT_WITHDRAWN:
        governance = {"DESIGNATED_SAFEGUARDING_LEAD", "CALDICOTT_GUARDIAN", "PARTNER_SYSTEM"}
        ok = involved and role in PRACTITIONERS | {"KEY_WORKER"} | governance
    elif kind is ChangeKind.OVERRIDE_STARTED:
        ok = statutory and role in SAFEGUARDING
    elif kind is ChangeKind.OVERRIDE_ENDED:  # the override is the council's
        ok = organisation == SALFORD_COUNCIL and role in SAFEGUARDING | {"CALDICOTT_GUARDIAN"}
    else:
        named = SAFEGUARDING | {"CALDICOTT_GUARDIAN", "DATA_PROTECTION_OFFICER"}
        ok = statutory and role in named
    return Verdict.PERMIT if ok else Verdict.DENY


ROWS = [
    (kind, organisation, role, involved)
    for kind, organisation, role, involved in itertools.product(
        ChangeKind, KINDS, sorted(KNOWN_ROLES), (True, False)
    )
]


@pytest.mark.parametrize(("kind", "organisation", "role", "involved"), ROWS)
def test_every_change_by_every_role_of_every_kind_of_organisation(
    kind: ChangeKind, organisation: str, role: str, involved: bool
) -> None:
    actor = Recipient(organisation, role, "someone")
    involvement = frozenset({organisation} if involved else {TRUST} - {organisation})
    decision = decide_change(AGREEMENT, actor, CHANGES[kind], FACTS, involvement, NOW)
    assert decision.outcome is expected(kind, organisation, role, involved), decision.reason
    assert decision.agreement_version == AGREEMENT.version
    assert decision.reason
    if decision.permitted:
        assert decision.authority is not None  # the rule relied on


KEY_WORKER = Recipient(HOME_START, "KEY_WORKER", "hs-3")
MIDWIFE = Recipient(TRUST, "COMMUNITY_MIDWIFE", "mw-1")
SOCIAL_WORKER = Recipient(SALFORD_COUNCIL, "SOCIAL_WORKER", "sw-7")
SAFEGUARDING_MIDWIFE = Recipient(TRUST, "SAFEGUARDING_MIDWIFE", "r0a-sg")
HOME_START_SYSTEM = Recipient(HOME_START, "PARTNER_SYSTEM", "homestart-crm")
STRANGER = Recipient(OUTSIDE, "COMMUNITY_MIDWIFE", "mw-9")
CONSENT = Change(ChangeKind.CONSENT_RECORDED, frozenset({HOME_START}), obtained_by="hs-3")
EVERYONE = frozenset({TRUST, SALFORD_COUNCIL, HOME_START})

ATTACKS: list[tuple[str, Recipient, Change, frozenset[str], Verdict, str]] = [
    (
        "a key worker records a consent naming her charity for a stranger",
        KEY_WORKER,
        CONSENT,
        frozenset({TRUST}),
        Verdict.DENY,
        "holds no record",
    ),
    (
        "the same, for a mother her charity supports: her own access, so held",
        KEY_WORKER,
        CONSENT,
        EVERYONE,
        Verdict.REVIEW,
        "held for review",
    ),
    (
        "a key worker ends the council's safeguarding override",
        KEY_WORKER,
        Change(ChangeKind.OVERRIDE_ENDED, override_id="ovr-1"),
        EVERYONE,
        Verdict.DENY,
        "no rule",
    ),
    (
        "an NHS safeguarding midwife ends the council's override: not hers to end, nor to know",
        SAFEGUARDING_MIDWIFE,
        Change(ChangeKind.OVERRIDE_ENDED, override_id="ovr-1"),
        EVERYONE,
        Verdict.DENY,
        "R0A recorded no override ovr-1",
    ),
    (
        "the council's social worker ends an override that does not exist: the same words",
        SOCIAL_WORKER,
        Change(ChangeKind.OVERRIDE_ENDED, override_id="ovr-none"),
        EVERYONE,
        Verdict.DENY,
        "355 recorded no override ovr-none",
    ),
    (
        "an organisation outside the agreement withdraws all her consents",
        STRANGER,
        Change(ChangeKind.CONSENT_WITHDRAWN),
        EVERYONE | {OUTSIDE},
        Verdict.DENY,
        "not party",
    ),
    (
        "an organisation outside the agreement records a consent",
        STRANGER,
        replace(CONSENT, recipients=frozenset({WOMENS_AID})),
        EVERYONE | {OUTSIDE},
        Verdict.DENY,
        "not party",
    ),
    (
        "a midwife records a consent naming an organisation outside the agreement",
        MIDWIFE,
        replace(CONSENT, recipients=frozenset({OUTSIDE})),
        EVERYONE,
        Verdict.DENY,
        "may name only VOLUNTARY",
    ),
    (
        "a midwife records a consent naming a statutory partner (it needs none)",
        MIDWIFE,
        replace(CONSENT, recipients=frozenset({SALFORD_COUNCIL})),
        EVERYONE,
        Verdict.DENY,
        "may name only VOLUNTARY",
    ),
    (
        "a midwife records the consent she obtained for Home-Start",
        MIDWIFE,
        CONSENT,
        EVERYONE,
        Verdict.PERMIT,
        "consent-obtained-by-a-statutory-practitioner",
    ),
    (
        "a consent obtained tomorrow",
        MIDWIFE,
        replace(CONSENT, obtained_at=NOW + timedelta(days=1)),
        EVERYONE,
        Verdict.DENY,
        "in the future",
    ),
    (
        "a partner system records a consent without naming who obtained it",
        HOME_START_SYSTEM,
        replace(CONSENT, recipients=frozenset({WOMENS_AID}), obtained_by=None),
        EVERYONE,
        Verdict.DENY,
        "only for the practitioner who obtained it",
    ),
    (
        "a partner system records a consent for its charity, obtained by its key worker",
        HOME_START_SYSTEM,
        CONSENT,
        EVERYONE,
        Verdict.REVIEW,
        "held for review",
    ),
    (
        "a social worker starts an override naming her own council",
        SOCIAL_WORKER,
        Change(ChangeKind.OVERRIDE_STARTED, frozenset({SALFORD_COUNCIL})),
        EVERYONE,
        Verdict.DENY,
        "may not widen 355's own access",
    ),
    (
        "a key worker starts an override naming her charity",
        KEY_WORKER,
        Change(ChangeKind.OVERRIDE_STARTED, frozenset({HOME_START})),
        EVERYONE,
        Verdict.DENY,
        "no rule",
    ),
    (
        "a charity's key worker confirms an identity link",
        KEY_WORKER,
        Change(ChangeKind.IDENTITY_LINK_CONFIRMED),
        EVERYONE,
        Verdict.DENY,
        "no rule",
    ),
    (
        "a key worker of a charity supporting her records the withdrawal she was told of",
        KEY_WORKER,
        Change(ChangeKind.CONSENT_WITHDRAWN, frozenset({HOME_START})),
        EVERYONE,
        Verdict.PERMIT,
        "withdrawal-by-an-involved-party",
    ),
]


@pytest.mark.parametrize(
    ("actor", "change", "involvement", "outcome", "says"),
    [row[1:] for row in ATTACKS],
    ids=[row[0] for row in ATTACKS],
)
def test_what_an_attacker_tries(
    actor: Recipient, change: Change, involvement: frozenset[str], outcome: Verdict, says: str
) -> None:
    decision = decide_change(AGREEMENT, actor, change, FACTS, involvement, NOW)
    assert decision.outcome is outcome, decision.reason
    assert says in (decision.reason + " " + (decision.authority or ""))


def test_an_agreement_without_change_rules_lets_nobody_change_anything() -> None:
    bare = AGREEMENT.model_copy(update={"change_rules": ()})
    decision = decide_change(bare, MIDWIFE, CONSENT, FACTS, EVERYONE, NOW)
    assert decision.outcome is Verdict.DENY
    assert "no rule" in decision.reason


# who reviews a change Home-Start's key worker made that widens Home-Start's own access
REVIEWERS: list[tuple[str, Recipient, frozenset[str], Verdict]] = [
    (
        "the trust's Caldicott guardian",
        Recipient(TRUST, "CALDICOTT_GUARDIAN", "cg"),
        EVERYONE,
        Verdict.PERMIT,
    ),
    (
        "the council's safeguarding lead",
        Recipient(SALFORD_COUNCIL, "DESIGNATED_SAFEGUARDING_LEAD", "dsl"),
        EVERYONE,
        Verdict.PERMIT,
    ),
    (
        "an uninvolved trust's Caldicott guardian",
        Recipient("RM3", "CALDICOTT_GUARDIAN", "cg"),
        EVERYONE,
        Verdict.DENY,
    ),
    ("the trust's midwife", MIDWIFE, EVERYONE, Verdict.DENY),
    (
        "the charity's own safeguarding lead",
        Recipient(HOME_START, "DESIGNATED_SAFEGUARDING_LEAD", "d"),
        EVERYONE,
        Verdict.DENY,
    ),
    (
        "another charity's safeguarding lead",
        Recipient(WOMENS_AID, "DESIGNATED_SAFEGUARDING_LEAD", "d"),
        EVERYONE | {WOMENS_AID},
        Verdict.DENY,
    ),
    (
        "a Caldicott guardian outside the agreement",
        Recipient(OUTSIDE, "CALDICOTT_GUARDIAN", "cg"),
        EVERYONE | {OUTSIDE},
        Verdict.DENY,
    ),
]


@pytest.mark.parametrize(
    ("reviewer", "involvement", "outcome"),
    [row[1:] for row in REVIEWERS],
    ids=[row[0] for row in REVIEWERS],
)
def test_who_reviews_a_held_change(
    reviewer: Recipient, involvement: frozenset[str], outcome: Verdict
) -> None:
    decision = decide_held(AGREEMENT, reviewer, HOME_START, involvement)
    assert decision.outcome is outcome, decision.reason
