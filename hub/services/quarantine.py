"""The error queue's use cases: list, show, dismiss and correct what the hub refused (ADR 0030).

Who may see what is :func:`hub.errorqueue.fold.may_see`: a hub operator (the command line on
the hub's host) every item; an ``INTEGRATION_ENGINEER`` of the organisation whose source sent it
only that organisation's items — another's, or one whose organisation the hub cannot tell, is
"not found", as if it did not exist. Raw input is opened here with the key store (it is sealed
with the keys of the people it names, ADR 0020); shown to anyone outside the operators, every
person it names gets a disclosure record, durably written before the content is returned.
Replaying is :mod:`hub.services.quarantine_replay`.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime

from hub.connectors.hl7v2.locations import Located, locate, segments
from hub.disclosures import Channel as DisclosureChannel
from hub.disclosures import Disclosure
from hub.erasure.keystore import SubjectKeyStore
from hub.erasure.log import CaseEventLog
from hub.errorqueue.fold import (
    EVERYTHING,
    INTEGRATION_ENGINEER,
    Actor,
    Channel,
    Engineer,
    FieldError,
    Filter,
    Item,
    Operator,
    Status,
    discloses,
    may_see,
)
from hub.errorqueue.store import Action, Correction, Entry, QuarantineStore
from hub.ingest.record_limits import joined
from hub.ingest.records import named_in, quarantine_log
from hub.ingest.sink import CaseEventSink
from hub.kafka.codec import DecodeError, quarantine_codec
from hub.kafka.publisher import PublishError
from hub.quarantine import QuarantineRecord, quarantine_record
from hub.services.errors import ConflictError, ForbiddenError, NotFoundError, NotRecordedError
from hub.settings import Settings
from hub.vocabulary import Purpose


@dataclass(frozen=True)
class QueueContext:
    """What the queue's use cases read and write: the store, the key store the input is sealed
    with, the sink (disclosures, replays), the settings (topics) and the clock."""

    store: QuarantineStore
    keys: SubjectKeyStore
    sink: CaseEventSink
    settings: Settings
    agreement_version: str
    clock: Callable[[], datetime]


@dataclass(frozen=True)
class Opened:
    """An item's input opened: the record(s) as refused, or None once a person it names was
    erased (their key destroyed: nothing of it can be read)."""

    record: QuarantineRecord | None
    raw: bytes | None


@dataclass(frozen=True)
class ShownCorrection:
    at: datetime
    by_organisation: str | None
    by_user: str
    why: str
    text: str | None  # None: erased


@dataclass(frozen=True)
class Shown:
    """An item as ``show`` prints it."""

    entry: Entry
    reason: str  # in full (the list's is redacted)
    errors: tuple[FieldError, ...]
    text: str | None  # the raw input decoded as far as it goes; None: erased
    located: tuple[Located, ...]  # for HL7: the segment and value each error names
    corrections: tuple[ShownCorrection, ...]
    entry_text: str | None = None  # a dead letter's log entry, opened


def entry_json(entry: Entry) -> dict[str, object]:
    """An item as the command line's ``--json`` and the API list it: what is kept in clear (the
    errors redacted of NHS numbers; ``show`` has them in full)."""
    item = entry.item
    action = entry.action
    return {
        "item_id": str(item.item_id),
        "status": entry.status.value,
        "channel": item.channel.value,
        "received_as": item.received_as,
        "source_system": item.source_system,
        "organisation": item.organisation,
        "content_type": item.content_type,
        "reason": item.reason,
        "errors": [{"location": e.location, "message": e.message} for e in entry.errors],
        "first_seen": item.first_seen.isoformat(),
        "last_seen": item.last_seen.isoformat(),
        "times_refused": item.times,
        "replays": action.replays if action else 0,
        "note": action.note if action else None,
        "acted_by": (
            {"organisation_code": action.by_organisation, "user": action.by_user}
            if action
            else None
        ),
        "dead_letter": (
            {
                "topic": item.failed_at.topic,
                "partition": item.failed_at.partition,
                "offset": item.failed_at.offset,
            }
            if item.failed_at
            else None
        ),
    }


def engineers_only(actor: Actor) -> None:
    """:class:`ForbiddenError` for a reader of the API who is not an integration engineer."""
    if isinstance(actor, Engineer) and actor.role != INTEGRATION_ENGINEER:
        raise ForbiddenError(f"only an {INTEGRATION_ENGINEER} works the error queue")


def list_items(context: QueueContext, actor: Actor, wanted: Filter = EVERYTHING) -> list[Entry]:
    """The items ``actor`` may see that ``wanted`` takes, last seen first."""
    engineers_only(actor)
    if isinstance(actor, Engineer):
        wanted = replace(wanted, organisation=actor.organisation_code)
    return [entry for entry in context.store.entries(wanted) if may_see(actor, entry.item)]


def entry_for(context: QueueContext, actor: Actor, item_id: uuid.UUID) -> Entry:
    """The item, or :class:`NotFoundError` — also for one ``actor`` may not see."""
    engineers_only(actor)
    entry = context.store.entry(item_id)
    if entry is None or not may_see(actor, entry.item):
        raise NotFoundError(f"no refused input {item_id} that you may see")
    return entry


def open_input(context: QueueContext, item: Item) -> Opened:
    """The item's input, unsealed (its parts joined): a key-store read."""
    parts = context.store.sealed_parts(item.item_id)
    if not parts:
        return Opened(None, None)
    settings = context.settings
    if item.channel is Channel.DEAD_LETTER:
        codec = quarantine_codec(settings.dead_letter_topic, settings.schema_registry_url)
        try:
            record = codec.decode(parts[0])
        except DecodeError:
            return Opened(None, parts[0])
        return Opened(record, record.raw)
    log = quarantine_log(context.keys, settings.quarantine_topic, settings.schema_registry_url)
    records: list[QuarantineRecord] = []
    for outcome in log.decode_many(parts):
        if isinstance(outcome, DecodeError):
            raise outcome
        if outcome is None:
            return Opened(None, None)
        records.append(outcome)
    raw = records[0].raw if len(records) == 1 else joined(records)
    return Opened(records[0], raw)


def readable(raw: bytes, content_type: str | None) -> str:
    """Raw input decoded as far as it goes: HL7 as its segments one a line, JSON indented,
    anything else as text (bytes that are not UTF-8 read as Latin-1, never refused)."""
    if raw.startswith(b"MSH"):
        return "\n".join(segments(raw))
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        return raw.decode("latin-1")
    if (content_type or "").split(";")[0].strip().endswith("json") or text.lstrip().startswith(
        ("{", "[")
    ):
        try:
            return json.dumps(json.loads(text), indent=2, ensure_ascii=False)
        except ValueError:
            return text
    return text


async def show_item(
    context: QueueContext, actor: Actor, item_id: uuid.UUID, *, reference: str
) -> Shown:
    """The item with its input decoded, every error in full and, for HL7, what each names.
    For anyone but an operator, every person the input names gets a disclosure record first
    (:class:`NotRecordedError`, and nothing shown, when the log did not take it)."""
    entry = entry_for(context, actor, item_id)
    item = entry.item
    opened = open_input(context, item)
    corrections = context.store.corrections(item_id)
    if opened.record is not None and discloses(actor, item):
        await _record_disclosure(context, actor, opened.record, reference)
    shown_corrections = tuple(
        ShownCorrection(
            c.at,
            c.by_organisation,
            c.by_user,
            c.why,
            None if (raw := open_correction(context, c)) is None else readable(raw, None),
        )
        for c in corrections
    )
    if opened.record is None:
        return Shown(entry, item.reason, entry.errors, None, (), shown_corrections)
    record = opened.record
    errors = tuple(FieldError(e.location, e.message) for e in record.errors if e.location != "part")
    if entry.action is not None and entry.action.replay_errors:
        errors = entry.action.replay_errors
    raw = opened.raw if opened.raw is not None else record.raw
    if item.channel is Channel.DEAD_LETTER:
        return Shown(
            entry,
            record.reason,
            errors,
            None,
            (),
            shown_corrections,
            _entry_text(context, item, raw),
        )
    located = tuple(
        found
        for error in errors
        if raw.startswith(b"MSH") and (found := locate(raw, error.location)) is not None
    )
    return Shown(
        entry, record.reason, errors, readable(raw, record.content_type), located, shown_corrections
    )


def _entry_text(context: QueueContext, item: Item, raw: bytes) -> str | None:
    """A dead letter's entry opened with the key store, as JSON (None: erased or unreadable)."""
    topic = item.failed_at.topic if item.failed_at else context.settings.family_events_topic
    try:
        entry = CaseEventLog(context.keys, topic, context.settings.schema_registry_url).decode(raw)
    except DecodeError as error:
        return f"(not a readable log entry: {error})"
    return None if entry is None else entry.model_dump_json(indent=2)


async def _record_disclosure(
    context: QueueContext, actor: Actor, record: QuarantineRecord, reference: str
) -> None:
    assert isinstance(actor, Engineer)
    disclosures = [
        Disclosure(
            disclosure_id=uuid.uuid4(),
            disclosed_at=context.clock(),
            channel=DisclosureChannel.API,
            recipient_organisation=actor.organisation_code,
            recipient_role=actor.role,
            recipient_user=actor.user_id,
            subject_key=subject,
            purpose=Purpose.DIRECT_CARE,
            items=(),
            agreement_version=context.agreement_version,
            reference=reference,
        )
        for subject in named_in(record)
    ]
    try:
        for disclosure in disclosures:
            await context.sink.disclose(disclosure)
    except PublishError as error:
        raise NotRecordedError(
            f"the disclosure could not be recorded, so nothing is shown: {error}"
        ) from error


def dismiss(context: QueueContext, actor: Actor, item_id: uuid.UUID, reason: str) -> Entry:
    """Mark the item dismissed, with the reason: it needs nothing more (a test message, a
    duplicate the source already resent)."""
    entry = entry_for(context, actor, item_id)
    if not reason.strip():
        raise ConflictError("say why the item is dismissed")
    previous = entry.action
    context.store.record_action(
        item_id,
        Action(
            Status.DISMISSED,
            *who(actor),
            context.clock(),
            note=reason.strip(),
            replays=previous.replays if previous else 0,
        ),
    )
    return entry_for(context, actor, item_id)


def correct(
    context: QueueContext, actor: Actor, item_id: uuid.UUID, corrected: bytes, why: str
) -> Correction:
    """Keep a corrected copy of the item's input beside the original, with who corrected it
    and why; the next replay uses it. Sealed with the keys of everyone the original or the copy
    names, so erasing any of them makes it unreadable too."""
    entry = entry_for(context, actor, item_id)
    if entry.item.channel is Channel.DEAD_LETTER:
        raise ConflictError("a dead letter is a log entry: it is replayed, not corrected")
    if not why.strip():
        raise ConflictError("say why the input was corrected")
    if not corrected:
        raise ConflictError("the corrected copy is empty")
    opened = open_input(context, entry.item)
    if opened.record is None:
        raise NotFoundError(f"the input of {item_id} was erased")
    copy = quarantine_record(
        corrected,
        channel=opened.record.channel,
        reason=f"correction of {item_id}",
        source_system=opened.record.source_system,
        content_type=opened.record.content_type,
    )
    settings = context.settings
    log = quarantine_log(context.keys, settings.quarantine_topic, settings.schema_registry_url)
    _, sealed = log.encode(copy, {*named_in(opened.record), *named_in(copy)})
    organisation, user = who(actor)
    correction = Correction(
        uuid.uuid4(),
        item_id,
        context.clock(),
        organisation,
        user or "operator",
        why.strip(),
        sealed,
        log.key_ids_of(sealed),
    )
    context.store.record_correction(correction)
    previous = entry.action
    context.store.record_action(
        item_id,
        Action(
            Status.CORRECTED,
            organisation,
            user,
            correction.at,
            note=why.strip(),
            replays=previous.replays if previous else 0,
        ),
    )
    return correction


def open_correction(context: QueueContext, correction: Correction) -> bytes | None:
    """A corrected copy, unsealed; None once a person it names was erased."""
    settings = context.settings
    log = quarantine_log(context.keys, settings.quarantine_topic, settings.schema_registry_url)
    record = log.decode(correction.sealed)
    return None if record is None else record.raw


def latest_input(context: QueueContext, item: Item) -> tuple[bytes | None, Correction | None]:
    """What a replay maps: the latest corrected copy, else the input as refused."""
    corrections = context.store.corrections(item.item_id)
    for correction in reversed(corrections):
        return open_correction(context, correction), correction
    return open_input(context, item).raw, None


def who(actor: Actor) -> tuple[str | None, str | None]:
    """(organisation, user) as the record keeps them; an operator has no organisation."""
    if isinstance(actor, Operator):
        return None, actor.user
    return actor.organisation_code, actor.user_id
