"""What an HL7 v2 error location names, read from the refused message: for an engineer at the
error queue, "PID-3" beside the PID segment and the value of its field 3.

Pure, and tolerant: a message python-hl7 cannot parse is still shown as its segments, one a
line, so the engineer sees as much of it as the bytes allow (ADR 0030).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from hub.connectors.hl7v2.reading import Hl7ReadError, decode, parse, value

_LOCATION = re.compile(
    r"^(?P<segment>[A-Z][A-Z0-9]{2})(?:-(?P<field>\d+)(?:\.(?P<component>\d+))?)?"
)
_SEGMENT_ENDINGS = re.compile(r"\r\n|\n\r|\n|\r")


@dataclass(frozen=True)
class Located:
    """An error location, the segment it names (as sent; None: the message has none) and the
    value of the field or component it names ("": empty or absent)."""

    location: str
    segment: str | None
    value: str


def segments(raw: bytes) -> list[str]:
    """The message's segments, one a line, decoded by its declared character set."""
    return [line for line in _SEGMENT_ENDINGS.split(decode(raw)) if line.strip()]


def locate(raw: bytes, location: str) -> Located | None:
    """What ``location`` ("PID-3", "AIL-3.1", "MSH") names in ``raw``; None for a location
    that is not a segment's (an extract's row number, "body")."""
    found = _LOCATION.match(location)
    if found is None:
        return None
    name = found["segment"]
    line = next((s for s in segments(raw) if s.startswith(name)), None)
    if line is None or found["field"] is None:
        return Located(location, line, "")
    field, component = int(found["field"]), int(found["component"] or 1)
    try:
        message = parse(raw)
        segment = message.segment(name)
    except (Hl7ReadError, KeyError, IndexError):
        return Located(location, line, _split_value(line, name, field, component))
    return Located(location, line, value(segment, field, 1, component))


def _split_value(line: str, name: str, field: int, component: int) -> str:
    """The value by splitting on the usual delimiters, for a message that does not parse."""
    fields = line.split("|")
    at = field - 1 if name == "MSH" else field  # MSH-1 is the field separator itself
    if at < 0 or at >= len(fields):
        return ""
    parts = fields[at].split("~")[0].split("^")
    return parts[component - 1] if component - 1 < len(parts) else ""
