"""The built-in connectors pass the same conformance suite a third-party one gets: the batch
connectors on their golden samples, the message connectors (HL7 v2, each FHIR resource) on the
messages of their golden files, refused ones included."""

from __future__ import annotations

import json
import tomllib
from pathlib import Path

from hub.connectors.conformance import ConnectorConformance, MessageConnectorConformance
from hub.connectors.csc.annex_a import AnnexAReferrals
from hub.connectors.csc.cin_census import CINCensus
from hub.connectors.csc.ssda903 import SSDA903Episodes
from hub.connectors.fhir.appointment import AppointmentConnector
from hub.connectors.fhir.common import FhirSender
from hub.connectors.fhir.encounter import EncounterConnector
from hub.connectors.fhir.patient import PatientConnector
from hub.connectors.fhir.team import CareTeamConnector, EpisodeOfCareConnector
from hub.connectors.hl7v2.connector import Hl7v2Connector
from hub.connectors.sources import load_sources
from hub.connectors.tabular.connector import TabularConnector
from hub.connectors.voluntary.activity import VoluntaryActivity
from tests.support.golden import GOLDEN_SOURCES

GOLDEN = Path(__file__).resolve().parents[1] / "golden"
CONNECTORS = GOLDEN / "connectors"


class TestSSDA903Episodes(ConnectorConformance):
    connector = SSDA903Episodes()
    sample = CONNECTORS / "ssda903-episodes" / "public-validator-903-episodes-head.input.csv"


class TestCINCensus(ConnectorConformance):
    connector = CINCensus()
    sample = CONNECTORS / "cin-census" / "public-validator-cin-census-2021.input.xml"


class TestVoluntaryActivity(ConnectorConformance):
    connector = VoluntaryActivity()
    sample = CONNECTORS / "voluntary-activity" / "programme-year.input.csv"


class TestAnnexAReferrals(ConnectorConformance):
    connector = AnnexAReferrals()
    sample = CONNECTORS / "annex-a-referrals" / "list-3-referrals.input.csv"


class TestTabularLacCensusForm(ConnectorConformance):
    """The tabular connector with its example mapping, on the Welsh LAC census form (.xlsx)."""

    connector = TabularConnector()
    sample = CONNECTORS / "tabular" / "lac-census-episodes.input.xlsx"


class TestTabularCrcsCensus(ConnectorConformance):
    """... and mapped to the CRCS census (CSV) by another file, without a line of Python."""

    connector = TabularConnector()
    sample = CONNECTORS / "tabular" / "crcs-census.input.csv"
    config = tomllib.loads((CONNECTORS / "tabular" / "crcs-census.config.toml").read_text())


class TestHl7v2(MessageConnectorConformance):
    connector = Hl7v2Connector()
    samples = sorted((GOLDEN / "hl7v2").glob("*.input.hl7"))
    context = GOLDEN_SOURCES


def _fhir_samples(resource_type: str) -> list[Path]:
    """The golden inputs that are that resource type (the Appointment ones: all of theirs,
    a body that is not JSON among them)."""
    found = sorted((GOLDEN / "fhir_appointment").glob("*.input.json"))
    if resource_type != "Appointment":
        found = []
    for path in sorted((GOLDEN / "fhir_resources").glob("*.input.json")):
        if json.loads(path.read_bytes()).get("resourceType") == resource_type:
            found.append(path)
    return found


# The demo trust (config/sources/demo-mft-maternity.toml): what R0A's resources mean.
DEMO_TRUST = load_sources().for_organisation("R0A")
assert DEMO_TRUST is not None
R0A = FhirSender("R0A", DEMO_TRUST.practitioner_roles)


class TestFhirAppointment(MessageConnectorConformance):
    connector = AppointmentConnector()
    samples = _fhir_samples("Appointment")
    context = R0A


class TestFhirPatient(MessageConnectorConformance):
    connector = PatientConnector()
    samples = _fhir_samples("Patient")
    context = R0A


class TestFhirEncounter(MessageConnectorConformance):
    connector = EncounterConnector()
    samples = _fhir_samples("Encounter")
    context = R0A


class TestFhirCareTeam(MessageConnectorConformance):
    connector = CareTeamConnector()
    samples = _fhir_samples("CareTeam")
    context = R0A


class TestFhirEpisodeOfCare(MessageConnectorConformance):
    connector = EpisodeOfCareConnector()
    samples = _fhir_samples("EpisodeOfCare")
    context = R0A
