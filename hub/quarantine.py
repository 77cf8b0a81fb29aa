"""Quarantine: input the hub refused, kept raw with the reason (never silently dropped).

Every connector and the stream processors build a :class:`QuarantineRecord` through
:func:`quarantine_record` and hand it to the publisher; the record's id is derived from the
channel and the raw bytes, so the same bad message sent twice is quarantined once.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Iterable

from pydantic import AwareDatetime, BaseModel, ConfigDict

from hub.events import deterministic_event_id, utc_now


class QuarantineError(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    location: str
    message: str


class QuarantineRecord(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    quarantine_id: uuid.UUID
    received_at: AwareDatetime
    channel: str
    source_system: str | None = None
    content_type: str | None = None
    raw: bytes
    reason: str
    errors: tuple[QuarantineError, ...] = ()


def quarantine_record(
    raw: bytes,
    *,
    channel: str,
    reason: str,
    errors: Iterable[tuple[str, str]] = (),
    source_system: str | None = None,
    content_type: str | None = None,
) -> QuarantineRecord:
    """A record of refused input; ``errors`` are (location, message) pairs."""
    digest = hashlib.sha256(raw).hexdigest()
    return QuarantineRecord(
        quarantine_id=deterministic_event_id("quarantine", channel, digest),
        received_at=utc_now(),
        channel=channel,
        source_system=source_system,
        content_type=content_type,
        raw=raw,
        reason=reason,
        errors=tuple(QuarantineError(location=loc, message=msg) for loc, msg in errors),
    )
