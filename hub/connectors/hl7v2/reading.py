"""Turning bytes into a parsed HL7 v2 message, and reading fields without surprises.

Parsing is python-hl7's; this module adds what real feeds need around it: character-set
detection (MSH-18, else UTF-8, else Latin-1), CR / LF / CRLF segment endings, and field access
that answers ``""`` for an absent field instead of raising, so that mapping code can say
precisely which field is missing.
"""

from __future__ import annotations

import re
import string
from dataclasses import dataclass
from datetime import UTC, datetime, tzinfo

import hl7
from hl7.datatypes import parse_datetime

_LATIN1_CHARSETS = {"8859/1", "ISO-8859-1", "ISO8859-1", "ISO IR100", "ISO_IR 100"}
_SEGMENT_ENDINGS = re.compile(r"\r\n|\n\r|\n|\r")


@dataclass(frozen=True)
class Hl7Problem:
    """One thing wrong with a message, as an ERR segment reports it."""

    segment: str
    field: int
    message: str
    code: int  # HL7 table 0357: 101 required field missing, 102 data type error, 200-207 ...
    component: int | None = None

    @property
    def location(self) -> str:
        where = f"{self.segment}-{self.field}" if self.field else self.segment
        return f"{where}.{self.component}" if self.component else where


class Hl7ReadError(ValueError):
    """Not a readable HL7 v2 message."""


def charset(raw: bytes) -> str:
    """The message's encoding: Latin-1 when MSH-18 names it, else UTF-8 if valid, else Latin-1."""
    head = raw[:512].decode("latin-1")
    msh = head.split("\r", 1)[0].split("\n", 1)[0]
    if len(msh) > 3 and msh.startswith("MSH"):
        fields = msh.split(msh[3])
        declared = fields[17].strip().upper() if len(fields) > 17 else ""
        if declared in _LATIN1_CHARSETS:
            return "latin-1"
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError:
        return "latin-1"
    return "utf-8"


def decode(raw: bytes) -> str:
    return raw.decode(charset(raw))


def parse(raw: bytes) -> hl7.Message:
    """A python-hl7 message, or :class:`Hl7ReadError` saying why it is not one."""
    text = _SEGMENT_ENDINGS.sub("\r", decode(raw)).strip()
    if not text.startswith("MSH") or len(text) < 8:
        raise Hl7ReadError("not an HL7 v2 message: it does not start with an MSH segment")
    delimiters = text[3:8]
    if len(set(delimiters)) != 5 or any(c not in string.punctuation for c in delimiters):
        raise Hl7ReadError(
            f"MSH-1/MSH-2 delimiters {delimiters!r} are not five distinct punctuation characters"
        )
    try:
        message = hl7.parse(text)
        message.segment("MSH")
    except Exception as error:  # python-hl7 raises many types on malformed input
        raise Hl7ReadError(f"not a parseable HL7 v2 message: {error}") from error
    return message


def value(
    segment: hl7.Segment, field: int, repetition: int = 1, component: int = 1, subcomponent: int = 1
) -> str:
    """One leaf value, unescaped; ``""`` when absent."""
    try:
        found = segment.extract_field(1, field, repetition, component, subcomponent)
    except (IndexError, KeyError, ValueError, TypeError):
        return ""
    text = str(found)
    return "" if text == '""' else text  # HL7's explicit null


def repetitions(segment: hl7.Segment, field: int) -> int:
    try:
        found = segment(field)
    except (IndexError, KeyError):
        return 0
    if len(found) and isinstance(found[0], hl7.Repetition):
        return len(found)
    return 1 if str(found) else 0


def first_segment(message: hl7.Message, name: str) -> hl7.Segment | None:
    try:
        found: hl7.Segment = message.segment(name)
    except (KeyError, IndexError):
        return None
    return found


def timestamp(text: str, zone: tzinfo) -> datetime:
    """An HL7 DTM in UTC; a value without an offset is read in the source's zone."""
    try:
        parsed = parse_datetime(text.strip())
    except OverflowError as error:  # hl7 raises it for seconds of absurd size
        raise ValueError(f"timestamp out of range: {text.strip()!r}") from error
    if parsed is None:
        raise ValueError("empty timestamp")
    moment: datetime = parsed if parsed.tzinfo else parsed.replace(tzinfo=zone)
    return moment.astimezone(UTC)
