"""Partner feeds: which connector maps a partner organisation's webhooks and uploads.

One TOML file per partner under ``config/partners/`` (or ``HUB_PARTNERS_DIR``): the partner's
organisation code, the connector, and that connector's configuration. The webhook secret is
never in the file: it comes from ``HUB_WEBHOOK_SECRETS`` (see :class:`hub.settings.Settings`),
so configuration can be committed and secrets rotated without touching it.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import Field, ValidationError

from hub.connectors.discovery import load_connector
from hub.connectors.sdk import Connector, ConnectorConfig, InputError
from hub.events import FrozenModel

DEFAULT_PARTNERS_DIR = Path(__file__).resolve().parents[2] / "config" / "partners"


class PartnerFile(FrozenModel):
    organisation_code: str = Field(min_length=1)
    connector: str = Field(min_length=1)
    config: dict[str, Any]

    @classmethod
    def read(cls, path: Path) -> PartnerFile:
        """One partner file; a bad one fails naming the file."""
        try:
            return cls.model_validate(tomllib.loads(path.read_text("utf-8")))
        except (tomllib.TOMLDecodeError, ValidationError) as error:
            raise ValueError(f"{path}: {error}") from error


@dataclass(frozen=True)
class PartnerFeed:
    organisation_code: str
    connector: Connector[Any]
    config: ConnectorConfig


def load_partners(directory: Path = DEFAULT_PARTNERS_DIR) -> dict[str, PartnerFeed]:
    """Every partner feed by organisation code; a bad file fails naming the file and field."""
    feeds: dict[str, PartnerFeed] = {}
    for path in sorted(directory.glob("*.toml")):
        file = PartnerFile.read(path)
        try:
            connector = load_connector(file.connector)
            config = connector.config(file.config)
        except (ValidationError, InputError, LookupError) as error:
            raise ValueError(f"{path}: {error}") from error
        if config.organisation_code != file.organisation_code:
            raise ValueError(
                f"{path}: config.organisation_code {config.organisation_code!r} is not the "
                f"partner's {file.organisation_code!r}: events would be attributed to another "
                "organisation"
            )
        if file.organisation_code in feeds:
            raise ValueError(f"{path}: {file.organisation_code} is configured twice")
        feeds[file.organisation_code] = PartnerFeed(file.organisation_code, connector, config)
    return feeds
