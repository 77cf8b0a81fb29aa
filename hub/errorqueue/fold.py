"""The error queue's pure core: a refused input as one item, who may see it, which items a
filter takes.

One item per input: a quarantine record's id is derived from its channel and raw bytes
(:func:`hub.quarantine.quarantine_record`), so the same input refused again folds into the
same item — ``times`` counts the refusals, ``first_seen`` and ``last_seen`` bound them, and its
reason and errors are the latest. An input too large for one record came as parts
(:func:`hub.ingest.record_limits.in_parts`); the parts fold into the item of the whole input.

What an item keeps in clear is what the queue is searched by: channel, source system and its
organisation, times, and the reason and field errors with every NHS-number-shaped run
replaced (an error message may quote the value it refused). The raw input, the full reason and
errors stay sealed with the keys of the people they name (ADR 0020); the store keeps those
sealed bytes, and erasing any of those people makes them unreadable.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass, field, replace
from datetime import datetime
from enum import StrEnum
from typing import Final

from hub.events import deterministic_event_id
from hub.nhs_number import SHAPED
from hub.payloads import FrozenModel
from hub.quarantine import QuarantineRecord

PROJECTION: Final = "error-queue"
INTEGRATION_ENGINEER: Final = "INTEGRATION_ENGINEER"
_NHS_SHAPED = re.compile(SHAPED)
# The runner's dead letters name where the entry was: "<topic>[<partition>]@<offset>: reason".
_WHERE = re.compile(r"^(?P<topic>[^\[\s]+)\[(?P<partition>\d+)\]@(?P<offset>\d+)")
_PART = re.compile(r"^(?P<n>\d+) of (?P<count>\d+) of \d+ bytes, sha256 (?P<digest>[0-9a-f]{64})$")


class Channel(StrEnum):
    """Where a refused input came in."""

    MLLP = "mllp"
    FHIR = "fhir"
    WEBHOOK = "webhook"
    UPLOAD = "upload"
    EXTRACT = "extract"
    DEAD_LETTER = "dead-letter"
    OTHER = "other"


# The channel names connectors write in their quarantine records.
_CHANNELS: Final = {
    "mllp": Channel.MLLP,
    "fhir-rest": Channel.FHIR,
    "fhir": Channel.FHIR,
    "webhook": Channel.WEBHOOK,
    "upload": Channel.UPLOAD,
    "extract": Channel.EXTRACT,
    "case-event-stream": Channel.DEAD_LETTER,
}


class Status(StrEnum):
    OPEN = "open"
    CORRECTED = "corrected"  # a corrected copy is on record, not yet replayed
    REPLAYED = "replayed"  # it now maps: its events are on the log
    DISMISSED = "dismissed"  # an engineer decided it needs nothing (with the reason)


class Refusal(FrozenModel):
    """One entry of the quarantine or dead-letter topic as the queue folds it: the record (its
    raw part of the input), the entry's sealed bytes and the ids of the keys they are sealed
    with (none: the input named nobody, or a dead letter, whose raw bytes are a sealed entry)."""

    record: QuarantineRecord
    sealed: bytes
    key_ids: tuple[str, ...] = ()
    dead_letter: bool = False


@dataclass(frozen=True)
class FieldError:
    location: str
    message: str


@dataclass(frozen=True)
class LogPlace:
    """Where a dead letter's entry was on the log."""

    topic: str
    partition: int
    offset: int


@dataclass(frozen=True)
class Item:
    """One refused input, as the projection holds it."""

    item_id: uuid.UUID
    channel: Channel
    received_as: str  # the channel name the connector wrote
    source_system: str | None
    organisation: str | None  # the organisation that owns the source; None: unknown
    content_type: str | None
    reason: str
    errors: tuple[FieldError, ...]
    first_seen: datetime
    last_seen: datetime
    times: int
    parts: int = 1
    failed_at: LogPlace | None = None
    key_ids: tuple[str, ...] = field(default=())


def redacted(text: str) -> str:
    """``text`` with every NHS-number-shaped run replaced: what the queue keeps in clear."""
    return _NHS_SHAPED.sub("<nhs-number>", text)


def channel_of(received_as: str, *, dead_letter: bool = False) -> Channel:
    if dead_letter:
        return Channel.DEAD_LETTER
    return _CHANNELS.get(received_as, Channel.OTHER)


def part_of(record: QuarantineRecord) -> tuple[int, int, str] | None:
    """(part, parts, sha256 of the whole input) of a part of a large input, else None."""
    for error in record.errors:
        if error.location == "part":
            found = _PART.match(error.message)
            if found:
                return int(found["n"]), int(found["count"]), found["digest"]
    return None


def item_id_of(record: QuarantineRecord) -> uuid.UUID:
    """The item an entry belongs to: the record's own id, or for a part the id the whole input
    would have had as one record (the same derivation as :func:`quarantine_record`)."""
    part = part_of(record)
    if part is None:
        return record.quarantine_id
    return deterministic_event_id("quarantine", record.channel, part[2])


def failed_at(record: QuarantineRecord) -> LogPlace | None:
    """Where a dead letter's entry was, from the runner's reason."""
    found = _WHERE.match(record.reason)
    if found is None:
        return None
    return LogPlace(found["topic"], int(found["partition"]), int(found["offset"]))


def fold(existing: Item | None, refusal: Refusal, organisation: str | None) -> Item:
    """The item after one more entry of its input (pure). A later part of a large input
    changes nothing but the key ids: the refusal was counted on its first part."""
    record = refusal.record
    part = part_of(record)
    errors = tuple(
        FieldError(e.location, redacted(e.message)) for e in record.errors if e.location != "part"
    )
    keys = tuple(dict.fromkeys((*(existing.key_ids if existing else ()), *refusal.key_ids)))
    if existing is not None and part is not None and part[0] != 1:
        return replace(existing, key_ids=keys)
    if existing is None:
        return Item(
            item_id=item_id_of(record),
            channel=channel_of(record.channel, dead_letter=refusal.dead_letter),
            received_as=record.channel,
            source_system=record.source_system,
            organisation=organisation,
            content_type=record.content_type,
            reason=redacted(record.reason),
            errors=errors,
            first_seen=record.received_at,
            last_seen=record.received_at,
            times=1,
            parts=1 if part is None else part[1],
            failed_at=failed_at(record) if refusal.dead_letter else None,
            key_ids=keys,
        )
    return replace(
        existing,
        reason=redacted(record.reason),
        errors=errors,
        organisation=organisation or existing.organisation,
        first_seen=min(existing.first_seen, record.received_at),
        last_seen=max(existing.last_seen, record.received_at),
        times=existing.times + 1,
        key_ids=keys,
    )


# -- who may see what ------------------------------------------------------------------------


@dataclass(frozen=True)
class Operator:
    """A hub operator: the command line on the hub's own host (it holds the database and the
    key store already). Sees every item, raw content included, with nothing to record."""

    user: str = "operator"


@dataclass(frozen=True)
class Engineer:
    """An authenticated reader acting on the queue through the API."""

    organisation_code: str
    role: str
    user_id: str


Actor = Operator | Engineer


def may_see(actor: Actor, item: Item) -> bool:
    """Whether ``actor`` may see ``item`` at all: an operator every item; an integration
    engineer only what their own organisation's sources sent — never another organisation's
    input, nor one whose organisation the hub cannot tell (a dead letter, an unknown sender)."""
    if isinstance(actor, Operator):
        return True
    return (
        actor.role == INTEGRATION_ENGINEER
        and item.organisation is not None
        and item.organisation == actor.organisation_code
    )


def discloses(actor: Actor, item: Item) -> bool:
    """Whether showing ``item``'s raw content to ``actor`` is a disclosure to record: for
    anyone outside the hub's operators, whenever the input names someone."""
    return isinstance(actor, Engineer) and bool(item.key_ids)


# -- filters ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Filter:
    """Which items a list or a bulk replay takes; every field left None takes all."""

    source: str | None = None
    channel: Channel | None = None
    reason: str | None = None  # a case-insensitive part of the reason or of an error
    since: datetime | None = None  # last seen at or after
    until: datetime | None = None  # last seen before
    status: Status | None = None
    organisation: str | None = None

    def takes(self, item: Item, status: Status) -> bool:
        if self.source is not None and item.source_system != self.source:
            return False
        if self.channel is not None and item.channel is not self.channel:
            return False
        if self.organisation is not None and item.organisation != self.organisation:
            return False
        if self.status is not None and status is not self.status:
            return False
        if self.since is not None and item.last_seen < self.since:
            return False
        if self.until is not None and item.last_seen >= self.until:
            return False
        if self.reason is not None:
            wanted = self.reason.casefold()
            texts = [item.reason, *(f"{e.location} {e.message}" for e in item.errors)]
            if not any(wanted in text.casefold() for text in texts):
                return False
        return True


EVERYTHING: Final = Filter()
