"""Per-source configuration: what a sending system's local codes mean.

Integration engineers describe each source in a TOML file under ``config/sources/`` (or the
directory ``HUB_SOURCES_DIR`` names) instead of changing code: which organisation it belongs to,
which of its appointment types are antenatal, which clinics belong to which organisation, and
the time zone of timestamps that carry no offset. A message from a source with no file is
refused, so nothing is ever attributed to the wrong organisation.
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from zoneinfo import ZoneInfo

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from hub.connectors.sdk import ZoneName

DEFAULT_SOURCES_DIR = Path(__file__).resolve().parents[2] / "config" / "sources"


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

    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)


class SourceRegistry:
    """All configured sources, looked up by sending facility."""

    def __init__(self, sources: list[SourceConfig]) -> None:
        self._by_facility: dict[str, SourceConfig] = {}
        for source in sources:
            for facility in source.sending_facilities:
                if facility in self._by_facility:
                    raise ValueError(f"sending facility {facility!r} is configured twice")
                self._by_facility[facility] = source

    def for_facility(self, facility: str) -> SourceConfig | None:
        return self._by_facility.get(facility)

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
