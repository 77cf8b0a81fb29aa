"""The built-in connectors pass the same conformance suite a third-party one gets."""

from __future__ import annotations

from pathlib import Path

from hub.connectors.conformance import ConnectorConformance
from hub.connectors.csc.annex_a import AnnexAReferrals
from hub.connectors.csc.cin_census import CINCensus
from hub.connectors.csc.ssda903 import SSDA903Episodes
from hub.connectors.voluntary.activity import VoluntaryActivity

GOLDEN = Path(__file__).resolve().parents[1] / "golden" / "connectors"


class TestSSDA903Episodes(ConnectorConformance):
    connector = SSDA903Episodes()
    sample = GOLDEN / "ssda903-episodes" / "public-validator-903-episodes-head.input.csv"


class TestCINCensus(ConnectorConformance):
    connector = CINCensus()
    sample = GOLDEN / "cin-census" / "public-validator-cin-census-2021.input.xml"


class TestVoluntaryActivity(ConnectorConformance):
    connector = VoluntaryActivity()
    sample = GOLDEN / "voluntary-activity" / "programme-year.input.csv"


class TestAnnexAReferrals(ConnectorConformance):
    connector = AnnexAReferrals()
    sample = GOLDEN / "annex-a-referrals" / "list-3-referrals.input.csv"
