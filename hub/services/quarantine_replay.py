"""Replaying what the hub refused (ADR 0030): through its own connector's current mapping, with
a corrected copy where one is on record, or — a dead letter — onto the topic it failed on.

An input that now maps publishes its events exactly as if it had arrived right: the mappings'
event ids are derived from the input (the HL7 sender and control id, a CSV row's key and
content), never from the time it is mapped, so replaying twice publishes the same events and
the projections take them once. The item is then ``replayed``; one that still fails stays
``open`` with the errors of this replay. A dry run maps and publishes nothing.

Which channels replay: HL7 v2 over MLLP (the source configuration as it is now), FHIR
resources (the FHIR mapping, the sender's source file's roles as they are now), CSV rows of a
partner's upload and a partner's webhook bodies (the partner's connector as configured now, with
any consent or withdrawal in them decided by the same screening as an upload's or a webhook's),
and CSV rows of a council's extract (the connector and configuration file the operator names,
as ``hub connector run`` is given them; the replayed row is then in the extract's cursor, so the
next run of the same row finds it unchanged). What is not a self-contained row — a workbook
row, an XML census record, a whole file refused — is answered not replayable, with what to do.
"""

from __future__ import annotations

import csv
import io
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from hub.connectors.cursors import CursorStore, Written
from hub.connectors.fhir.bundle import NO_ROLES, resource_to_events
from hub.connectors.fhir.common import load_json
from hub.connectors.hl7v2.connector import hl7_refusal
from hub.connectors.hl7v2.listener import receive
from hub.connectors.outcomes import Mapped, Refused, translate
from hub.connectors.partners import PartnerFeed, webhook_record
from hub.connectors.runtime import DUPLICATE_KEY
from hub.connectors.sdk import (
    Connector,
    ConnectorConfig,
    InputError,
    Record,
    RecordError,
    csv_row_columns,
    webhook_message_id,
)
from hub.connectors.sources import SourceRegistry
from hub.erasure.log import CaseEventLog
from hub.erasure.sealing import Erasure
from hub.errorqueue.fold import Actor, Channel, FieldError, Filter, Item, Status, redacted
from hub.errorqueue.store import Action, Entry
from hub.events import CaseEvent, utc_now
from hub.identity.store import IdentityStore
from hub.kafka.codec import DecodeError
from hub.kafka.publisher import Delivery, PublishError
from hub.services.errors import NotRecordedError
from hub.services.quarantine import (
    QueueContext,
    entry_for,
    latest_input,
    list_items,
    open_input,
    who,
)
from hub.services.sharing_changes import ChangeStores, screen_partner_changes


class Result(StrEnum):
    MAPS = "maps"  # a dry run: it would map
    REPLAYED = "replayed"  # it mapped; its events are on the log
    STILL_FAILS = "still-fails"
    NOT_REPLAYABLE = "not-replayable"
    ERASED = "erased"
    DISMISSED = "dismissed"  # left alone: an engineer dismissed it


@dataclass(frozen=True)
class Replayed:
    item_id: uuid.UUID
    result: Result
    events: int = 0
    errors: tuple[FieldError, ...] = ()
    corrected: bool = False  # the replay mapped a corrected copy


@dataclass(frozen=True)
class ExtractMapping:
    """What a council's extract rows are mapped with again: the connector and configuration its
    runs are given (``hub connector run NAME FILE --config PATH``, the file as the engineer fixed
    it) and the extract's cursor (``--extract``; ``NAME:system`` by default). The queue does not
    record them: the configuration is a file on the hub's host named on each run's command line,
    so the operator who fixed it names it again (``hub quarantine replay --connector --config``)."""

    connector: Connector[Any]
    config: ConnectorConfig
    cursor: str
    cursors: CursorStore


@dataclass(frozen=True)
class Mappers:
    """The configuration a replay maps with, read as it is now (after the engineer's fix):
    the sources (HL7 v2), the partner feeds (uploads, webhooks), the stores a partner's consents
    are screened with, the person index (a dead letter's family) and, given on the command line,
    an extract's connector and configuration."""

    sources: Callable[[], SourceRegistry]
    partners: Callable[[], dict[str, PartnerFeed]]
    changes: ChangeStores
    identity: IdentityStore
    extract: ExtractMapping | None = None


async def replay(
    context: QueueContext,
    mappers: Mappers,
    actor: Actor,
    item_ids: Sequence[uuid.UUID],
    *,
    dry_run: bool = False,
) -> list[Replayed]:
    """Replay each item in turn (in the order given), recording each outcome as it goes."""
    entries = [entry_for(context, actor, item_id) for item_id in item_ids]
    sources = mappers.sources()
    return [await _replay_one(context, mappers, sources, actor, e, dry_run) for e in entries]


async def replay_matching(
    context: QueueContext,
    mappers: Mappers,
    actor: Actor,
    wanted: Filter,
    *,
    dry_run: bool = False,
) -> list[Replayed]:
    """Bulk replay: every item the filter takes that is not replayed or dismissed, the first
    seen first (a family's dead letters in the order they failed)."""
    entries = [
        entry
        for entry in list_items(context, actor, wanted)
        if entry.status not in (Status.REPLAYED, Status.DISMISSED)
    ]
    entries.sort(key=lambda entry: (entry.item.first_seen, str(entry.item.item_id)))
    return await replay(
        context, mappers, actor, [entry.item.item_id for entry in entries], dry_run=dry_run
    )


async def _replay_one(
    context: QueueContext,
    mappers: Mappers,
    sources: SourceRegistry,
    actor: Actor,
    entry: Entry,
    dry_run: bool,
) -> Replayed:
    item = entry.item
    if entry.status is Status.DISMISSED:
        return Replayed(item.item_id, Result.DISMISSED)
    if item.channel is Channel.DEAD_LETTER:
        return await _replay_dead_letter(context, mappers, actor, entry, dry_run)
    raw, correction = latest_input(context, item)
    if raw is None:
        return Replayed(item.item_id, Result.ERASED)
    outcome = map_again(mappers, sources, item, raw)
    if isinstance(outcome, str):
        return Replayed(
            item.item_id, Result.NOT_REPLAYABLE, errors=(FieldError("channel", outcome),)
        )
    if isinstance(outcome, Refused):
        errors = _errors_of(item, outcome)
        if not dry_run:
            _record(context, actor, entry, Status.OPEN, errors=errors)
        return Replayed(item.item_id, Result.STILL_FAILS, errors=errors, corrected=bool(correction))
    events = list(outcome.events)
    if dry_run:
        return Replayed(item.item_id, Result.MAPS, len(events), corrected=bool(correction))
    try:
        published = await context.sink.publish_many(events)
    except PublishError as error:  # nothing is marked: replay again (the ids are the same)
        reason = f"the broker did not confirm the events; replay again: {error}"
        raise NotRecordedError(reason) from error
    failures = _not_stored(published)
    if failures:
        # Nothing is marked: the item stays as it was and can be replayed again (the ids are
        # the same, so what was stored is not doubled).
        return Replayed(item.item_id, Result.STILL_FAILS, errors=failures)
    if item.channel is Channel.EXTRACT and mappers.extract is not None:
        _remember_row(mappers.extract, outcome)
    _record(context, actor, entry, Status.REPLAYED)
    return Replayed(item.item_id, Result.REPLAYED, len(events), corrected=bool(correction))


def map_again(
    mappers: Mappers, sources: SourceRegistry, item: Item, raw: bytes
) -> Mapped | Refused | str:
    """The input through its connector's current mapping; a string says why it cannot be."""
    if item.channel is Channel.MLLP:
        return receive(raw, sources).outcome
    if item.channel is Channel.FHIR and item.organisation is not None:
        return _map_fhir(sources, item.organisation, raw)
    if item.channel is Channel.EXTRACT:
        return _map_extract_row(mappers.extract, item, raw)
    if item.channel in (Channel.UPLOAD, Channel.WEBHOOK):
        feed = mappers.partners().get(item.organisation or "")
        if feed is None or feed.config.system != item.source_system:
            return f"no partner feed of {item.organisation} sends as {item.source_system}"
        return _map_partner(mappers, feed, item, raw)
    return f"{item.channel.value} input is sent again by its source, not replayed from the queue"


def _map_fhir(sources: SourceRegistry, organisation: str, raw: bytes) -> Mapped | Refused:
    """A FHIR resource (or a Bundle's entry) mapped as ``POST /fhir/{type}`` maps it, for the
    organisation that sent it, with its source file's practitioner roles as they are now."""
    record = Record("fhir", "fhir", raw, {})
    try:
        data = load_json(raw)
        resource = data.get("resource") if "resourceType" not in data else data
        if not isinstance(resource, dict):
            raise RecordError([("resource", "neither a FHIR resource nor a Bundle entry")])
        source = sources.for_organisation(organisation)
        events = resource_to_events(
            resource,
            organisation_code=organisation,
            recorded_at=utc_now(),
            roles=source.practitioner_roles if source is not None else NO_ROLES,
        )
    except RecordError as error:
        return Refused.of(record, error)
    return Mapped(record, events)


def _map_partner(
    mappers: Mappers, feed: PartnerFeed, item: Item, raw: bytes
) -> Mapped | Refused | str:
    """A webhook body or an uploaded CSV row mapped by the partner's connector, screened as
    its channel screens a consent or withdrawal."""
    if item.channel is Channel.WEBHOOK:
        message_id = webhook_message_id(item.content_type)
        if message_id is None:  # kept before the hub recorded the id its key may fall back to
            return "the webhook-id of this body was not kept: the partner sends it again"
        records: list[Record] | str = [webhook_record(raw, message_id)]
    else:
        records = _row_records(feed.connector, feed.config, item, raw, "the partner uploads it")
    if isinstance(records, str):
        return records
    screened = screen_partner_changes(
        mappers.changes,
        feed.organisation_code,
        list(translate(feed.connector, feed.config, records, utc_now())),
        f"replay {item.item_id}",
        item.channel.value,
    )
    if not screened:
        return "the record's change to sharing is held for a decision"
    return screened[0]


def _map_extract_row(
    extract: ExtractMapping | None, item: Item, raw: bytes
) -> Mapped | Refused | str:
    """A council extract's row mapped by the connector and configuration the operator names."""
    if extract is None:
        return (
            "an extract row is mapped with its extract's connector and configuration file: "
            "hub quarantine replay --connector NAME --config FILE (on the hub's host)"
        )
    if extract.config.system != item.source_system:
        return f"the configuration given is {extract.config.system}'s, not {item.source_system}'s"
    if not extract.cursors.runs(extract.cursor):
        return f"no run of the extract {extract.cursor!r}: name it as its runs do (--extract)"
    records = _row_records(
        extract.connector, extract.config, item, raw, "correct the file and run the extract again"
    )
    if isinstance(records, str):
        return records
    [outcome] = translate(extract.connector, extract.config, records, utc_now())
    if isinstance(outcome, Mapped) and _took_anothers_key(extract, item, outcome):
        return (
            f"its key {outcome.record.key!r} is the extract's from another row of the run that "
            "refused it: keep one row per key in the file and run the extract again, or correct "
            "this row's key (hub quarantine correct) if it was mistyped"
        )
    return outcome


def _took_anothers_key(extract: ExtractMapping, item: Item, mapped: Mapped) -> bool:
    """A row refused because an earlier row of its run had the same key, still with a key the
    cursor holds: replaying it would publish its events over the row the run took, so which
    of the two is right is the source's to say (fixing the file), not the queue's."""
    duplicate = any(e.location == "key" and e.message.endswith(DUPLICATE_KEY) for e in item.errors)
    return duplicate and mapped.record.key in extract.cursors.lookup(
        extract.cursor, [mapped.record.key]
    )


def _row_records(
    connector: Connector[Any], config: ConnectorConfig, item: Item, raw: bytes, otherwise: str
) -> list[Record] | str:
    """A refused CSV row read again under its header (kept in its content type), as the
    connector reads a file; a string says why not (``otherwise``: what to do instead)."""
    columns = csv_row_columns(item.content_type)
    if columns is None:
        return (
            f"not a self-contained CSV row (a workbook row, an XML record, a whole file): "
            f"{otherwise}"
        )
    header = io.StringIO()
    csv.writer(header, lineterminator="\r\n").writerow(columns)
    stream = io.BytesIO(header.getvalue().encode() + raw)
    try:
        records = list(connector.read_kept(stream, f"replay-{item.item_id}.csv", config))
    except InputError as error:
        return str(error)
    if len(records) != 1:
        return f"the input reads as {len(records)} rows, not one"
    return records


def _remember_row(extract: ExtractMapping, mapped: Mapped) -> None:
    """The replayed row in its extract's cursor, as the last run would have kept it had the row
    mapped then: the next run of the same row finds it unchanged and publishes nothing (its
    events are on the log already), and a later run without it reports it disappeared."""
    key = mapped.record.key
    [last, *_] = extract.cursors.runs(extract.cursor)
    known = extract.cursors.lookup(extract.cursor, [key])
    ids = frozenset(str(event.event_id) for event in mapped.events)
    written = Written(key, mapped.record.digest(), ids, replaces=key in known)
    extract.cursors.commit(extract.cursor, last.run_id, [written], [])


def _errors_of(item: Item, refused: Refused) -> tuple[FieldError, ...]:
    issues = hl7_refusal(refused).issues if item.channel is Channel.MLLP else refused.issues
    return tuple(FieldError(location, redacted(message)) for location, message in issues)


def _not_stored(results: Sequence[object]) -> tuple[FieldError, ...]:
    return tuple(
        FieldError("publish", redacted(str(result)))
        for result in results
        if not isinstance(result, Delivery)
    )


def _record(
    context: QueueContext,
    actor: Actor,
    entry: Entry,
    status: Status,
    errors: tuple[FieldError, ...] = (),
) -> None:
    previous = entry.action
    organisation, user = who(actor)
    context.store.record_action(
        entry.item.item_id,
        Action(
            status,
            organisation,
            user,
            context.clock(),
            note=previous.note if previous and status is Status.OPEN else None,
            replays=(previous.replays if previous else 0) + 1,
            replay_errors=errors,
        ),
    )


async def _replay_dead_letter(
    context: QueueContext, mappers: Mappers, actor: Actor, entry: Entry, dry_run: bool
) -> Replayed:
    """The entry written again, as it was, to the topic it failed on, keyed as the worker
    keyed it there (its family on the family topic, its key id on the case-event topic): after
    everything already on that partition, so in order for its family. Every projection of that
    topic takes it again; those that had applied it take the same event once more, which their
    folds, keyed by the events' deterministic ids, absorb."""
    item = entry.item
    settings = context.settings
    opened = open_input(context, item)
    place = item.failed_at
    if opened.raw is None or place is None:
        return Replayed(
            item.item_id, Result.ERASED if opened.raw is None else Result.NOT_REPLAYABLE
        )
    log = CaseEventLog(context.keys, place.topic, settings.schema_registry_url)
    try:
        decoded = log.decode(opened.raw)
    except DecodeError as error:
        errors = (FieldError(f"{place.topic}[{place.partition}]@{place.offset}", str(error)),)
        if not dry_run:
            _record(context, actor, entry, Status.OPEN, errors=errors)
        return Replayed(item.item_id, Result.STILL_FAILS, errors=errors)
    if decoded is None:
        return Replayed(item.item_id, Result.ERASED)
    if dry_run:
        return Replayed(item.item_id, Result.MAPS, 1)
    key = _key_for(settings.family_events_topic, place.topic, mappers, log, decoded, opened.raw)
    kind = "SUBJECT_ERASED" if isinstance(decoded, Erasure) else decoded.event_type.value
    try:
        await context.sink.republish(
            place.topic, key, opened.raw, {"hub-event-type": kind.encode()}
        )
    except PublishError as error:
        return Replayed(
            item.item_id, Result.STILL_FAILS, errors=(FieldError("publish", str(error)),)
        )
    _record(context, actor, entry, Status.REPLAYED)
    return Replayed(item.item_id, Result.REPLAYED, 1)


def _key_for(
    family_topic: str,
    topic: str,
    mappers: Mappers,
    log: CaseEventLog,
    entry: CaseEvent | Erasure,
    raw: bytes,
) -> bytes:
    key_id = log.key_id_of(raw).encode()
    if topic != family_topic or isinstance(entry, Erasure):
        return key_id
    family = mappers.identity.family_keys_of({entry.subject_key()}).get(entry.subject_key())
    return family.encode("ascii") if family is not None else key_id
