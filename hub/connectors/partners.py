"""Partner feeds: which connector maps a partner organisation's webhooks and uploads.

One TOML file per partner under ``config/partners/`` (or ``HUB_PARTNERS_DIR``): the partner's
organisation code, the connector, and that connector's configuration. The webhook secret is
never in the file: it comes from ``HUB_WEBHOOK_SECRETS`` (see :class:`hub.settings.Settings`),
so configuration can be committed and secrets rotated without touching it.
"""

from __future__ import annotations

import json
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import Field, ValidationError

from hub.connectors.discovery import load_connector
from hub.connectors.sdk import Connector, ConnectorConfig, InputError, Record, webhook_type
from hub.payloads import FrozenModel

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


def webhook_record(body: bytes, message_id: str) -> Record:
    """The Standard Webhooks envelope as one record of the connector's fields.

    A signed body that is not a JSON object (or is nested past the parser's stack) gives a
    record without fields, which the connector refuses naming them: a 422 and a quarantine
    record, not a 401 (the partner did sign it) nor a 500. The record's content type keeps the
    ``webhook-id`` (its key's fallback), so the error queue can replay the body alone.
    """
    try:
        payload = json.loads(body)
    except (ValueError, RecursionError):
        payload = None
    if not isinstance(payload, dict) or not isinstance(payload.get("data"), dict):
        fields: dict[str, str] = {}
    else:
        fields = {
            str(name): value if isinstance(value, str) else json.dumps(value)
            for name, value in payload["data"].items()
            if value is not None
        }
        if isinstance(payload.get("type"), str):
            fields.setdefault("event", payload["type"])
    key = "|".join(filter(None, (fields.get("record_id"), fields.get("event")))) or message_id
    return Record(f"webhook {message_id}", key, body, fields, content_type=webhook_type(message_id))
