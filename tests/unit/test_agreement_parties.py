"""Every organisation the configuration names is a party to the agreement (issue 16, point 4)."""

from __future__ import annotations

from pathlib import Path

import pytest

from hub.connectors.partners import DEFAULT_PARTNERS_DIR
from hub.connectors.sources import DEFAULT_SOURCES_DIR
from hub.services.parties import Claim, configured_claims, strays
from hub.settings import Settings
from hub.sharing.agreement import load_agreement

AGREEMENT = load_agreement()


@pytest.mark.parametrize(
    ("claim", "stray"),
    [
        (Claim("config/partners/hs.toml", "organisation_code", "VCS-HOMESTART-SALFORD"), False),
        (Claim("config/sources/pas.toml", "organisation_code", "R0A"), False),
        (Claim("config/sources/pas.toml", "clinics.SAL-ANC", "RM3"), False),
        (Claim("registered client c1", "organisation", "355"), False),
        # The demo's old partner code: the charity's records filed under a code nobody knows.
        (Claim("config/partners/hs.toml", "organisation_code", "HOMESTART-MCR"), True),
        (Claim("config/sources/pas.toml", "clinics.BLT-REN", "R1H"), True),
        (Claim("registered client c2", "organisation", "RX1"), True),
        # Codes are exact: a council's ONS code is not its DfE number, case and spaces matter.
        (Claim("registered client c3", "organisation", "E08000006"), True),
        (Claim("registered client c4", "organisation", "r0a"), True),
        (Claim("registered client c5", "organisation", "R0A "), True),
        (Claim("registered client c6", "organisation", ""), True),
    ],
)
def test_a_claim_is_stray_unless_its_code_is_a_party(claim: Claim, stray: bool) -> None:
    problems = strays(AGREEMENT, [claim])
    assert bool(problems) is stray
    if stray:
        assert problems == [
            f"{claim.where}: {claim.what} {claim.code!r} is not a party to the agreement "
            f"(version {AGREEMENT.version}); add it to the agreement or correct the code"
        ]


def test_every_stray_is_named_in_order() -> None:
    claims = [
        Claim("a.toml", "x", "NOPE-1"),
        Claim("b.toml", "y", "R0A"),
        Claim("c", "z", "NOPE-2"),
    ]
    assert [p.split(":")[0] for p in strays(AGREEMENT, claims)] == ["a.toml", "c"]


def test_the_shipped_configuration_names_only_parties() -> None:
    claims = configured_claims(
        Settings(sources_dir=DEFAULT_SOURCES_DIR, partners_dir=DEFAULT_PARTNERS_DIR)
    )
    assert {c.code for c in claims} >= {"R0A", "VCS-HOMESTART-SALFORD"}
    assert strays(AGREEMENT, claims) == []


def test_sources_owners_clinics_and_partner_feeds_are_all_claims(tmp_path: Path) -> None:
    sources, partners = tmp_path / "sources", tmp_path / "partners"
    sources.mkdir()
    partners.mkdir()
    (sources / "pas.toml").write_text(
        'system = "pas"\norganisation_code = "R0A"\nsending_facilities = ["PAS"]\n'
        '[clinics]\nSAL-ANC = "RM3"\nLON-ANC = "R1H"\n'
    )
    (partners / "hs.toml").write_text(
        'organisation_code = "HOMESTART-MCR"\nconnector = "voluntary-activity"\n'
        '[config]\nsystem = "hs"\norganisation_code = "HOMESTART-MCR"\nprogramme = "SF"\n'
    )
    claims = configured_claims(Settings(sources_dir=sources, partners_dir=partners))
    assert claims == [
        Claim(str(sources / "pas.toml"), "organisation_code", "R0A"),
        Claim(str(sources / "pas.toml"), "clinics.SAL-ANC", "RM3"),
        Claim(str(sources / "pas.toml"), "clinics.LON-ANC", "R1H"),
        Claim(str(partners / "hs.toml"), "organisation_code", "HOMESTART-MCR"),
    ]
    assert len(strays(AGREEMENT, claims)) == 2
