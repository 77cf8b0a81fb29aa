"""Per-source configuration: what a sending system's local codes mean.

Integration engineers describe each source in a TOML file under ``config/sources/`` (or the
directory ``HUB_SOURCES_DIR`` names) instead of changing code: which organisation it belongs to,
which of its appointment types are antenatal, which clinics belong to which organisation, which
of its practitioner fields and role codes name "the family's midwife", a consultant or a health
visitor (ADR 0021), and the time zone of timestamps that carry no offset. A message from a
source with no file is refused, so nothing is ever attributed to the wrong organisation.
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Literal
from zoneinfo import ZoneInfo

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from hub.connectors.sdk import ZoneName
from hub.vocabulary import PractitionerRole

DEFAULT_SOURCES_DIR = Path(__file__).resolve().parents[2] / "config" / "sources"


class PractitionerRoles(BaseModel):
    """Which practitioners a source's messages name, and as what (ADR 0021).

    Only what is configured assigns: a PV1 field left out, or a role code not in ``codes``,
    names nobody to the team, so a source's local conventions never guess a midwife.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    attending: PractitionerRole | None = Field(
        default=None, description="HL7 PV1-7 (attending) is assigned in this role."
    )
    referring: PractitionerRole | None = Field(
        default=None, description="HL7 PV1-8 (referring) is assigned in this role."
    )
    consulting: PractitionerRole | None = Field(
        default=None, description="HL7 PV1-9 (consulting) is assigned in this role."
    )
    care_manager: PractitionerRole | None = Field(
        default=None, description="FHIR EpisodeOfCare.careManager is assigned in this role."
    )
    codes: dict[str, PractitionerRole] = Field(
        default_factory=dict,
        description="Role code -> hub role: HL7 ROL-3.1 and AIP-4.1 (resource role), FHIR "
        "CareTeam.participant.role and Appointment.participant.type coding codes.",
    )


class SourceConfig(BaseModel):
    """One sending system, matched by its HL7 MSH-4 sending facility (HD.1)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    system: str = Field(min_length=1, description="The hub's name for the sending system.")
    organisation_code: str = Field(min_length=1, description="ODS code of the owner.")
    sending_facilities: tuple[str, ...] = Field(
        min_length=1, description="MSH-4 values (HD.1) this source sends as."
    )
    timezone: ZoneName = Field(
        default="Europe/London", description="Zone of timestamps without an offset."
    )
    appointment_types: dict[str, str] = Field(
        default_factory=dict,
        description="Local appointment type code or text (SCH-8.1, SCH-7.1) -> hub service type, "
        "e.g. 'ANC16' = 'antenatal'.",
    )
    clinics: dict[str, str] = Field(
        default_factory=dict,
        description="Clinic / location code (AIL-3.1) -> ODS code of the organisation running it.",
    )
    unknown_clinics: Literal["owner", "refuse"] = Field(
        default="owner",
        description="A clinic code (AIL-3.1) not in clinics: 'owner' attributes the appointment "
        "to the source's organisation; 'refuse' refuses the message (AE, quarantined) until the "
        "clinic is added and the message replayed from the error queue.",
    )

    practitioner_roles: PractitionerRoles = Field(
        default_factory=PractitionerRoles,
        description="Which named practitioners join the team around the family, as what.",
    )
    identifier_systems: dict[str, str] = Field(
        default_factory=dict,
        description="HL7 CX-4 assigning authority (or CX-5 type) -> identifier system URI, "
        "e.g. a health board's PAS number; an identifier of a system listed here names the "
        "person without an NHS number (HL7 PID-3, FHIR Patient.identifier).",
    )
    languages: dict[str, str] = Field(
        default_factory=dict,
        description="HL7 PID-15 language code (upper case) -> BCP 47 tag, e.g. 'CYM' = 'cy'.",
    )

    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)


class SourceRegistry:
    """All configured sources, looked up by sending facility."""

    def __init__(self, sources: list[SourceConfig]) -> None:
        self._sources = tuple(sources)
        self._by_facility: dict[str, SourceConfig] = {}
        for source in sources:
            for facility in source.sending_facilities:
                if facility in self._by_facility:
                    raise ValueError(f"sending facility {facility!r} is configured twice")
                self._by_facility[facility] = source

    def for_facility(self, facility: str) -> SourceConfig | None:
        return self._by_facility.get(facility)

    def for_organisation(self, organisation_code: str) -> SourceConfig | None:
        """The first configured source of an organisation (by file name): what a FHIR client of
        that organisation sends is read with its practitioner roles."""
        return next((s for s in self._sources if s.organisation_code == organisation_code), None)

    def all(self) -> tuple[SourceConfig, ...]:
        return self._sources

    def __len__(self) -> int:
        return len(self._by_facility)


def read_sources(directory: Path = DEFAULT_SOURCES_DIR) -> list[tuple[Path, SourceConfig]]:
    """Every ``*.toml`` in ``directory`` with its path; a bad file fails naming file and field."""
    sources = []
    for path in sorted(directory.glob("*.toml")):
        try:
            config = SourceConfig.model_validate(tomllib.loads(path.read_text("utf-8")))
        except (tomllib.TOMLDecodeError, ValidationError) as error:
            raise ValueError(f"{path}: {error}") from error
        sources.append((path, config))
    return sources


def load_sources(*directories: Path) -> SourceRegistry:
    """The sources of every ``*.toml`` in ``directories`` (``config/sources`` if none)."""
    found = [read_sources(d) for d in directories or (DEFAULT_SOURCES_DIR,)]
    return SourceRegistry([config for sources in found for _, config in sources])
