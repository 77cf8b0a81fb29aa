"""The decision function, table by table, on the scenarios of ``../shared/domain.md``.

Each row: the facts (events already folded), who asks, for what, and the expected outcome and
lawful basis. The agreement is the repository's own ``config/sharing/agreement.toml``, so a
change to that file that alters a scenario's answer fails here.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from functools import reduce
from pathlib import Path

import pytest

from hub.events import CaseEvent
from hub.sharing.agreement import AgreementError, load_agreement
from hub.sharing.facts import SharingFacts, fold_sharing
from hub.sharing.policy import Recipient, Request, Subject, Verdict, decide
from hub.vocabulary import DataCategory, LawfulBasis, Purpose
from tests.builders import (
    HOME_START,
    NHS_NUMBER,
    SALFORD_COUNCIL,
    T0,
    consented,
    override,
    override_ended,
    withdrawn,
)

AGREEMENT = load_agreement()
TRUST = "R0A"
MIDWIFE = Recipient(TRUST, "PROGRAMME_MIDWIFE", "mw-1")
SOCIAL_WORKER = Recipient(SALFORD_COUNCIL, "SOCIAL_WORKER", "sw-7")
COMMUNITY_MIDWIFE_OTHER_TRUST = Recipient("RM3", "COMMUNITY_MIDWIFE", "mw-9")
HOME_START_WORKER = Recipient(HOME_START, "KEY_WORKER", "hs-3")
WOMENS_AID = Recipient("VCS-WOMENSAID-MCR", "KEY_WORKER", "wa-1")
STRANGER = Recipient("RX9", "GP", "gp-1")
DAY = timedelta(days=1)

A = DataCategory.APPOINTMENTS
MH = DataCategory.MENTAL_HEALTH
DA = DataCategory.DOMESTIC_ABUSE
CARE = Purpose.DIRECT_CARE


def facts(events: Sequence[CaseEvent]) -> SharingFacts:
    return reduce(fold_sharing, events, SharingFacts())


SCENARIOS: list[
    tuple[str, list[CaseEvent], Recipient, DataCategory, Purpose, datetime, Verdict, str | None]
] = [
    ("trust reads its own appointment", [], MIDWIFE, A, CARE, T0, Verdict.PERMIT, "CONTROLLER"),
    (
        "council sees trust appointments (public task)",
        [],
        SOCIAL_WORKER,
        A,
        CARE,
        T0,
        Verdict.PERMIT,
        "PUBLIC_TASK",
    ),
    (
        "another trust's midwife sees them too",
        [],
        COMMUNITY_MIDWIFE_OTHER_TRUST,
        A,
        CARE,
        T0,
        Verdict.PERMIT,
        "PUBLIC_TASK",
    ),
    (
        "mental health only to named roles: community midwife denied",
        [],
        COMMUNITY_MIDWIFE_OTHER_TRUST,
        MH,
        CARE,
        T0,
        Verdict.DENY,
        None,
    ),
    (
        "mental health to the social worker (named role)",
        [],
        SOCIAL_WORKER,
        MH,
        CARE,
        T0,
        Verdict.PERMIT,
        "PUBLIC_TASK",
    ),
    ("Home-Start without consent: denied", [], HOME_START_WORKER, A, CARE, T0, Verdict.DENY, None),
    (
        "Home-Start with the mother's consent",
        [consented()],
        HOME_START_WORKER,
        A,
        CARE,
        T0 + DAY,
        Verdict.PERMIT,
        "CONSENT",
    ),
    (
        "consent does not reach a category it does not name",
        [consented()],
        HOME_START_WORKER,
        DataCategory.MATERNITY,
        CARE,
        T0 + DAY,
        Verdict.DENY,
        None,
    ),
    (
        "consent is not for evaluation",
        [consented()],
        HOME_START_WORKER,
        A,
        Purpose.SERVICE_EVALUATION,
        T0 + DAY,
        Verdict.DENY,
        None,
    ),
    (
        "consent is not retroactive",
        [consented(at=T0 + DAY)],
        HOME_START_WORKER,
        A,
        CARE,
        T0,
        Verdict.DENY,
        None,
    ),
    (
        "Home-Start after withdrawal: denied at once",
        [consented(), withdrawn(at=T0 + DAY)],
        HOME_START_WORKER,
        A,
        CARE,
        T0 + DAY,
        Verdict.DENY,
        None,
    ),
    (
        "withdrawal for Home-Start leaves the statutory partners",
        [consented(), withdrawn(at=T0 + DAY)],
        SOCIAL_WORKER,
        A,
        CARE,
        T0 + 2 * DAY,
        Verdict.PERMIT,
        "PUBLIC_TASK",
    ),
    (
        "consent given again after a withdrawal counts",
        [consented(), withdrawn(at=T0 + DAY), consented("consent-2", at=T0 + 2 * DAY)],
        HOME_START_WORKER,
        A,
        CARE,
        T0 + 3 * DAY,
        Verdict.PERMIT,
        "CONSENT",
    ),
    (
        "withdrawing one category keeps the others",
        [consented(), withdrawn(categories=(DataCategory.DEMOGRAPHICS,), at=T0 + DAY)],
        HOME_START_WORKER,
        A,
        CARE,
        T0 + 2 * DAY,
        Verdict.PERMIT,
        "CONSENT",
    ),
    (
        "expired consent",
        [consented(expires_at=T0 + DAY)],
        HOME_START_WORKER,
        A,
        CARE,
        T0 + 2 * DAY,
        Verdict.DENY,
        None,
    ),
    (
        "the consent must name the organisation",
        [consented(recipients=("VCS-WOMENSAID-MCR",))],
        HOME_START_WORKER,
        A,
        CARE,
        T0 + DAY,
        Verdict.DENY,
        None,
    ),
    (
        "an organisation outside the agreement is denied even with consent",
        [consented(recipients=("RX9",))],
        STRANGER,
        A,
        CARE,
        T0 + DAY,
        Verdict.DENY,
        None,
    ),
    (
        "domestic abuse to Women's Aid only with consent",
        [consented(recipients=("VCS-WOMENSAID-MCR",), categories=(DA,))],
        WOMENS_AID,
        DA,
        CARE,
        T0 + DAY,
        Verdict.PERMIT,
        "CONSENT",
    ),
    (
        "domestic abuse never to Home-Start, consent or not",
        [consented(categories=(DA,))],
        HOME_START_WORKER,
        DA,
        CARE,
        T0 + DAY,
        Verdict.DENY,
        None,
    ),
    (
        "safeguarding override widens sharing to Home-Start without consent",
        [override(at=T0)],
        HOME_START_WORKER,
        A,
        CARE,
        T0 + DAY,
        Verdict.PERMIT,
        "SAFEGUARDING",
    ),
    (
        "override overrides a withdrawal",
        [consented(), withdrawn(at=T0), override(at=T0 + DAY)],
        HOME_START_WORKER,
        A,
        CARE,
        T0 + 2 * DAY,
        Verdict.PERMIT,
        "SAFEGUARDING",
    ),
    (
        "override only as stated: not another category",
        [override(at=T0)],
        HOME_START_WORKER,
        MH,
        CARE,
        T0 + DAY,
        Verdict.DENY,
        None,
    ),
    (
        "override only as stated: not another recipient",
        [override(at=T0)],
        WOMENS_AID,
        A,
        CARE,
        T0 + DAY,
        Verdict.DENY,
        None,
    ),
    (
        "override not for service evaluation",
        [override(at=T0)],
        HOME_START_WORKER,
        A,
        Purpose.SERVICE_EVALUATION,
        T0 + DAY,
        Verdict.DENY,
        None,
    ),
    (
        "override lapses at expiry",
        [override(at=T0, expires_at=T0 + DAY)],
        HOME_START_WORKER,
        A,
        CARE,
        T0 + DAY,
        Verdict.DENY,
        None,
    ),
    (
        "override ended on review",
        [override(at=T0), override_ended(at=T0 + DAY)],
        HOME_START_WORKER,
        A,
        CARE,
        T0 + 2 * DAY,
        Verdict.DENY,
        None,
    ),
    (
        "override not before it was recorded",
        [override(at=T0 + DAY)],
        HOME_START_WORKER,
        A,
        CARE,
        T0,
        Verdict.DENY,
        None,
    ),
    (
        "evaluation by the council needs review",
        [],
        SOCIAL_WORKER,
        A,
        Purpose.SERVICE_EVALUATION,
        T0,
        Verdict.REVIEW,
        "PUBLIC_TASK",
    ),
    (
        "evaluation by a trust: no flow",
        [],
        COMMUNITY_MIDWIFE_OTHER_TRUST,
        A,
        Purpose.SERVICE_EVALUATION,
        T0,
        Verdict.DENY,
        None,
    ),
]


@pytest.mark.parametrize(
    ("events", "recipient", "category", "purpose", "at", "outcome", "basis"),
    [row[1:] for row in SCENARIOS],
    ids=[row[0] for row in SCENARIOS],
)
def test_decision(
    events: list[CaseEvent],
    recipient: Recipient,
    category: DataCategory,
    purpose: Purpose,
    at: datetime,
    outcome: Verdict,
    basis: str | None,
) -> None:
    request = Request(recipient, purpose, category, Subject(NHS_NUMBER), TRUST, at)
    decision = decide(AGREEMENT, facts(events), request)
    assert (decision.outcome, decision.basis) == (
        outcome,
        LawfulBasis(basis) if basis else None,
    ), decision.reason
    assert decision.agreement_version == AGREEMENT.version
    assert decision.reason


def test_facts_about_another_person_do_not_apply() -> None:
    request = Request(HOME_START_WORKER, CARE, A, Subject("4010232137"), TRUST, T0 + DAY)
    assert decide(AGREEMENT, facts([consented()]), request).outcome is Verdict.DENY


def test_family_facts_apply_to_every_member() -> None:
    consent = consented().model_copy(update={"family_key": "family-1"})
    sibling = Subject("4010232137", family_key="family-1")
    request = Request(HOME_START_WORKER, CARE, A, sibling, TRUST, T0 + DAY)
    assert decide(AGREEMENT, facts([consent]), request).outcome is Verdict.PERMIT


def test_withdrawal_reason_names_the_consent() -> None:
    request = Request(HOME_START_WORKER, CARE, A, Subject(NHS_NUMBER), TRUST, T0 + DAY)
    decision = decide(AGREEMENT, facts([consented(), withdrawn(at=T0 + DAY)]), request)
    assert "consent-1 withdrawn" in decision.reason


def test_refolding_the_same_events_changes_nothing() -> None:
    events = [consented(), withdrawn(at=T0 + DAY), override(), override_ended(at=T0 + DAY)]
    assert facts(events + events) == facts(events)


def test_a_bad_agreement_names_the_field(tmp_path: Path) -> None:
    path = tmp_path / "agreement.toml"
    path.write_text(
        'version = "1"\ntitle = "t"\n[organisations]\n[[flows]]\nname = "f"\n'
        'recipient_kinds = ["NHS"]\ncategories = ["GOSSIP"]\npurposes = ["DIRECT_CARE"]\n'
        'basis = "PUBLIC_TASK"\n'
    )
    with pytest.raises(AgreementError, match=r"flows\.0\.categories\.0"):
        load_agreement(path)


def test_the_gate_releases_nested_items_only_with_their_parent() -> None:
    from hub.disclosures import Channel
    from hub.sharing.gate import Item, release

    only_demographics = facts([consented(categories=(DataCategory.DEMOGRAPHICS,))])
    outcome = release(
        AGREEMENT,
        only_demographics,
        recipient=HOME_START_WORKER,
        purpose=CARE,
        subject=Subject(NHS_NUMBER),
        at=T0 + DAY,
        items=[
            Item(A, TRUST, "appointment"),
            Item(DataCategory.DEMOGRAPHICS, TRUST, "person", within=0),
        ],
        channel=Channel.API,
        reference="test",
    )
    assert outcome.released == ()
    assert outcome.disclosure is not None
    assert outcome.disclosure.items == ()  # nothing recorded as sent that was not sent
    assert {w.category for w in outcome.disclosure.withheld} == {A, DataCategory.DEMOGRAPHICS}


def test_hub_agreement_check_validates_the_shipped_agreement(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from hub.cli.main import app

    ok = CliRunner().invoke(app, ["agreement", "check"])
    assert ok.exit_code == 0, ok.output
    assert AGREEMENT.version in ok.output
    bad = tmp_path / "bad.toml"
    bad.write_text('version = "1"\n')
    refused = CliRunner().invoke(app, ["agreement", "check", str(bad)])
    assert refused.exit_code == 1
    assert "title: Field required" in refused.output


def _charity_withdrawal(received_at: datetime) -> CaseEvent:
    """A charity's ``consent_withdrawn`` row dated by day only, as the connector maps it."""
    from hub.connectors.sdk import Record
    from hub.connectors.voluntary.activity import ActivityConfig, VoluntaryActivity

    fields = {
        "record_id": "WD-1",
        "event": "consent_withdrawn",
        "occurred_on": (T0 + DAY).date().isoformat(),
        "nhs_number": NHS_NUMBER,
        "recorded_by": "hs-3",
    }
    config = ActivityConfig(system="lamplight", organisation_code=HOME_START)
    record = Record("withdrawals.csv:2", "WD-1|consent_withdrawn", b"", fields)
    [event] = VoluntaryActivity().map(record, config, received_at)
    return event


MORNING, RECEIVED = T0 + DAY, T0 + DAY + timedelta(hours=6)  # T0 is 09:30 UTC


@pytest.mark.parametrize(
    ("read_at", "expected"),
    [
        # The consent given the same morning is withdrawn: midnight would not have covered it.
        (RECEIVED, Verdict.DENY),
        (RECEIVED + DAY, Verdict.DENY),
        # Before the withdrawal reached the hub, the read was permitted (and was recorded so).
        (RECEIVED - timedelta(minutes=1), Verdict.PERMIT),
    ],
)
def test_a_withdrawal_dated_by_day_binds_from_when_it_was_received(
    read_at: datetime, expected: Verdict
) -> None:
    withdrawal = _charity_withdrawal(RECEIVED)
    assert withdrawal.occurred_at < MORNING  # dated midnight, as stated
    request = Request(HOME_START_WORKER, CARE, A, Subject(NHS_NUMBER), TRUST, read_at)
    folded = facts([consented("same-morning", at=MORNING), withdrawal])
    assert decide(AGREEMENT, folded, request).outcome is expected


def test_the_same_withdrawal_sent_again_does_not_withdraw_a_consent_given_since() -> None:
    again = RECEIVED + DAY
    events = [
        consented(at=MORNING),
        _charity_withdrawal(RECEIVED),
        consented("given-again", at=RECEIVED + timedelta(hours=1)),
        _charity_withdrawal(again),  # the same file uploaded again the next day
    ]
    request = Request(HOME_START_WORKER, CARE, A, Subject(NHS_NUMBER), TRUST, again)
    decision = decide(AGREEMENT, facts(events), request)
    assert (decision.outcome, decision.authority) == (Verdict.PERMIT, "given-again")
