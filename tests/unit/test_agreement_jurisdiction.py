"""Jurisdiction in the agreement (ADR 0033): each organisation's nation, the legislation a flow
cites, its WASPI document, and what the policy does with ``between``.

The refusals are a table: an agreement is built from one flow between the organisations of
the row, and either loads or is refused with a message naming the flow and the citation.
"""

from __future__ import annotations

import csv
import io
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from hub.cli.main import app
from hub.sharing.agreement import Agreement, AgreementError, load_agreement
from hub.sharing.facts import SharingFacts
from hub.sharing.isp_tables import (
    TableFormat,
    documented_flows,
    partner_table,
    reference_table,
    render,
)
from hub.sharing.legislation import CITATIONS
from hub.sharing.policy import Recipient, Request, Subject, Verdict, decide
from hub.vocabulary import DataCategory, Jurisdiction, LawfulBasis, Purpose

ENGLISH = {
    "R0A": {"name": "Manchester trust", "kind": "NHS", "safeguarding_lead": "r0a-lead"},
    "355": {"name": "Salford council", "kind": "LOCAL_AUTHORITY", "safeguarding_lead": "s-lead"},
}
WELSH = {
    "7A6": {
        "name": "Aneurin Bevan UHB",
        "kind": "NHS",
        "jurisdiction": "WALES",
        "safeguarding_lead": "7a6-lead",
    },
    "W06000022": {
        "name": "Newport council",
        "kind": "LOCAL_AUTHORITY",
        "jurisdiction": "WALES",
        "safeguarding_lead": "n-lead",
    },
}
ISP = {"type": "ISP", "reference": "Baby and Me ISP", "version": "1.0", "review_date": "2027-09-30"}


def agreement(organisations: dict[str, Any], **flow: Any) -> Agreement:
    base = {
        "name": "the-flow",
        "recipient_kinds": ["NHS", "LOCAL_AUTHORITY"],
        "categories": ["APPOINTMENTS"],
        "purposes": ["DIRECT_CARE"],
        "basis": "PUBLIC_TASK",
    }
    return Agreement.model_validate(
        {"version": "t", "title": "t", "organisations": organisations, "flows": [base | flow]}
    )


# (case, organisations, flow fields, None when it loads / words the refusal must contain)
CASES: list[tuple[str, dict[str, Any], dict[str, Any], tuple[str, ...] | None]] = [
    (
        "Welsh flow on Welsh law loads",
        WELSH,
        {"legislation": ["sswba-2014-s162", "ca-2004-s28", "uk-gdpr-6-1-e"], "waspi": ISP},
        None,
    ),
    (
        "Working Together 2023 between Welsh organisations is refused",
        WELSH,
        {"legislation": ["sswba-2014-s130", "working-together-2023"], "waspi": ISP},
        ("'the-flow'", "'working-together-2023'", "Wales organisations", "England only"),
    ),
    (
        "England's s.11 between Welsh organisations is refused",
        WELSH,
        {"legislation": ["ca-2004-s11"], "waspi": ISP},
        ("'the-flow'", "'ca-2004-s11'", "England only"),
    ),
    (
        "SSWBA s.130 between English organisations is refused",
        ENGLISH,
        {"legislation": ["sswba-2014-s130"]},
        ("'the-flow'", "'sswba-2014-s130'", "England organisations", "Wales only"),
    ),
    (
        "the Wales Safeguarding Procedures between English organisations are refused",
        ENGLISH,
        {"legislation": ["working-together-2023", "wales-safeguarding-procedures-2019"]},
        ("'wales-safeguarding-procedures-2019'", "Wales only"),
    ),
    (
        "Children Act 2004 s.28 (Wales) between English organisations is refused",
        ENGLISH,
        {"legislation": ["ca-2004-s28"]},
        ("'ca-2004-s28'",),
    ),
    (
        "UK-wide provisions hold in either nation",
        ENGLISH,
        {"legislation": ["uk-gdpr-6-1-e", "dpa-2018-sch1-para18"]},
        None,
    ),
    ("an English flow may cite nothing (as before Wales joined)", ENGLISH, {}, None),
    (
        "a Welsh flow must cite its legislative powers",
        WELSH,
        {"waspi": ISP},
        ("'the-flow'", "cites no legislation"),
    ),
    (
        "a Welsh flow must name its WASPI document",
        WELSH,
        {"legislation": ["sswba-2014-s162"]},
        ("'the-flow'", "no WASPI document"),
    ),
    (
        "an unknown citation is refused",
        ENGLISH,
        {"legislation": ["children-act-2004-s11"]},
        ("'children-act-2004-s11'", "does not know"),
    ),
    (
        "a flow spanning both nations must say so",
        ENGLISH | WELSH,
        {"legislation": ["uk-gdpr-6-1-e"], "waspi": ISP},
        ("'the-flow'", "connects English and Welsh", "CROSS_BORDER"),
    ),
    (
        "a cross-border flow may cite either nation's law",
        ENGLISH | WELSH,
        {
            "between": "CROSS_BORDER",
            "legislation": ["ca-2004-s11", "sswba-2014-s162"],
            "waspi": ISP,
        },
        None,
    ),
    (
        "between WALES in a mixed agreement is judged as Welsh",
        ENGLISH | WELSH,
        {"between": "WALES", "legislation": ["working-together-2023"], "waspi": ISP},
        ("'working-together-2023'", "Wales organisations"),
    ),
    (
        "between ENGLAND in a mixed agreement needs no WASPI document",
        ENGLISH | WELSH,
        {"between": "ENGLAND", "legislation": ["working-together-2023"]},
        None,
    ),
    (
        "between WALES naming only English recipients is refused",
        ENGLISH | WELSH,
        {
            "between": "WALES",
            "recipient_kinds": [],
            "recipient_organisations": ["R0A"],
            "legislation": ["sswba-2014-s162"],
            "waspi": ISP,
        },
        ("'the-flow'", "names none"),
    ),
]


@pytest.mark.parametrize(
    ("case", "organisations", "flow", "refusal"), CASES, ids=[c[0] for c in CASES]
)
def test_jurisdiction_of_citations(
    case: str,
    organisations: dict[str, Any],
    flow: dict[str, Any],
    refusal: tuple[str, ...] | None,
) -> None:
    if refusal is None:
        agreement(organisations, **flow)
        return
    with pytest.raises(ValueError, match="flow 'the-flow'") as raised:
        agreement(organisations, **flow)
    for words in refusal:
        assert words in str(raised.value), case


def test_an_organisation_without_a_jurisdiction_is_english() -> None:
    loaded = agreement(ENGLISH)
    assert {o.jurisdiction for o in loaded.organisations.values()} == {Jurisdiction.ENGLAND}


def test_the_refusal_at_load_names_the_file_the_flow_and_the_citation(tmp_path: Path) -> None:
    text = (Path(__file__).parents[2] / "config/sharing/agreement.toml").read_text()
    wrong = text.replace('"ca-2004-s25", "ca-2004-s28"]', '"ca-2004-s25", "working-together-2023"]')
    assert wrong != text
    path = tmp_path / "agreement.toml"
    path.write_text(wrong)
    with pytest.raises(AgreementError) as raised:
        load_agreement(path)
    message = str(raised.value)
    assert str(path) in message
    assert "'wales-statutory-direct-care'" in message
    assert "'working-together-2023'" in message


def test_the_catalogue_says_what_was_checked() -> None:
    """Every citation says its nations; the ones the demo agreement leans on hardest were
    checked against a published source (docs/wales.md lists them)."""
    for code in ("sswba-2014-s130", "sswba-2014-s162", "ca-2004-s28", "working-together-2023"):
        assert CITATIONS[code].verified, code
    assert not CITATIONS["sswba-2014-s164"].verified  # its heading is the project's reading


# The policy: `between` narrows a flow to records and readers of one nation.
DEMO = load_agreement()
NEWPORT_SOCIAL_WORKER = Recipient("W06000022", "SOCIAL_WORKER", "nsw-1")
SALFORD_SOCIAL_WORKER = Recipient("355", "SOCIAL_WORKER", "sw-7")
AT = datetime(2026, 12, 2, 9, tzinfo=UTC)

WALES_FLOW, ENGLAND_FLOW = "wales-statutory-direct-care", "statutory-direct-care"
NEWPORT, SALFORD = NEWPORT_SOCIAL_WORKER, SALFORD_SOCIAL_WORKER
POLICY: list[tuple[str, Recipient, str, Verdict, str | None]] = [
    ("Newport sees the health board's record", NEWPORT, "7A6", Verdict.PERMIT, WALES_FLOW),
    ("Salford does not see the health board's record", SALFORD, "7A6", Verdict.DENY, None),
    ("Newport does not see a Manchester record", NEWPORT, "R0A", Verdict.DENY, None),
    ("Salford still sees it", SALFORD, "R0A", Verdict.PERMIT, ENGLAND_FLOW),
    ("no national flow carries a non-party's record", NEWPORT, "RX9", Verdict.DENY, None),
]


@pytest.mark.parametrize(
    ("case", "reader", "controller", "verdict", "flow"), POLICY, ids=[p[0] for p in POLICY]
)
def test_between_narrows_the_policy(
    case: str, reader: Recipient, controller: str, verdict: Verdict, flow: str | None
) -> None:
    request = Request(
        reader, Purpose.DIRECT_CARE, DataCategory.APPOINTMENTS, Subject("p-1"), controller, AT
    )
    decision = decide(DEMO, SharingFacts(), request)
    assert decision.outcome is verdict, decision.reason
    assert decision.authority == flow
    if flow is not None:
        assert decision.basis is LawfulBasis.PUBLIC_TASK


def test_a_cross_border_flow_reaches_both_nations() -> None:
    mixed = agreement(
        ENGLISH | WELSH,
        between="CROSS_BORDER",
        legislation=["uk-gdpr-6-1-e", "sswba-2014-s162", "ca-2004-s11"],
        waspi=ISP,
    )
    request = Request(
        NEWPORT_SOCIAL_WORKER,
        Purpose.DIRECT_CARE,
        DataCategory.APPOINTMENTS,
        Subject("p-1"),
        "R0A",
        AT,
    )
    assert decide(mixed, SharingFacts(), request).permitted


@pytest.mark.parametrize(
    ("today", "overdue"),
    [(date(2027, 3, 31), 0), (date(2027, 4, 1), 1), (date(2027, 10, 1), 4)],
)
def test_overdue_reviews(today: date, overdue: int) -> None:
    """The demo's DDA is due on 2027-03-31 and its ISP (three flows) on 2027-09-30: due on the
    day is not yet overdue."""
    lines = DEMO.overdue_reviews(today)
    assert len(lines) == overdue
    if overdue == 1:
        assert "'wales-council-service-evaluation'" in lines[0]
        assert "2027-03-31" in lines[0]


def test_the_isp_tables_of_the_demo_agreement() -> None:
    flows = documented_flows(DEMO, "Baby and Me Newport: pre-birth support ISP")
    assert [f.name for f in flows] == [
        "wales-statutory-direct-care",
        "wales-statutory-special-category-named-roles",
        "wales-baby-and-me-by-consent",
    ]
    columns, partners = partner_table(DEMO, flows)
    assert [row[0] for row in partners] == ["7A6", "VCS-BARNARDOS-CYMRU", "W06000022"]
    assert {row[3] for row in partners} == {"Wales"}
    rendered = render(reference_table(DEMO, flows), TableFormat.CSV)
    rows = list(csv.DictReader(io.StringIO(rendered)))
    assert len(rows) == 3
    consent = rows[2]
    assert consent["Recipients"] == "Barnardo's Cymru (Baby and Me, Newport) (VCS-BARNARDOS-CYMRU)"
    assert consent["Lawful basis"] == "CONSENT"
    assert "s.130" in rows[1]["Legislative powers"]
    assert "Working Together" not in rendered
    markdown = render(partner_table(DEMO, flows), TableFormat.MARKDOWN).splitlines()
    assert markdown[0] == "| " + " | ".join(columns) + " |"
    assert len(markdown) == 2 + 3


def test_hub_agreement_export_writes_both_tables(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        app, ["agreement", "export", "--out", str(tmp_path), "--format", "csv"]
    )
    assert result.exit_code == 0, result.output
    text = (tmp_path / "information-reference.csv").read_text()
    reference = list(csv.DictReader(io.StringIO(text)))
    assert [r["Document"].split(":")[0] for r in reference] == ["ISP", "ISP", "ISP", "DDA"]
    assert (tmp_path / "partner-organisations.csv").read_text().count("\n") == 4
    missing = CliRunner().invoke(
        app, ["agreement", "export", "--out", str(tmp_path), "--document", "nope"]
    )
    assert missing.exit_code == 1
    assert "names document 'nope'" in missing.output


def test_hub_agreement_check_shows_citations_documents_and_overdue_reviews(
    tmp_path: Path,
) -> None:
    text = (Path(__file__).parents[2] / "config/sharing/agreement.toml").read_text()
    path = tmp_path / "agreement.toml"
    path.write_text(text.replace("review_date = 2027-03-31", "review_date = 2020-03-31"))
    result = CliRunner().invoke(app, ["agreement", "check", str(path)])
    assert result.exit_code == 0, result.output  # overdue is a warning, not invalid
    assert "organisation 7A6" in result.output
    assert "WALES    Aneurin Bevan University Health Board" in result.output
    assert "cites uk-gdpr-6-1-e, sswba-2014-s164" in result.output
    assert "DDA 'Baby and Me Newport: monitoring data DDA' version 1.0" in result.output
    assert (
        "review overdue: flow 'wales-council-service-evaluation': DDA 'Baby and Me Newport: "
        "monitoring data DDA' version 1.0 was due for review on 2020-03-31" in result.output
    )
