"""Replaying what the hub refused (ADR 0030): through its own connector's current mapping, with
a corrected copy where one is on record, or — a dead letter — onto the topic it failed on.

An input that now maps publishes its events exactly as if it had arrived right: the mappings'
event ids are derived from the input (the HL7 sender and control id, a CSV row's key and
content), never from the time it is mapped, so replaying twice publishes the same events and
the projections take them once. The item is then ``replayed``; one that still fails stays
``open`` with the errors of this replay. A dry run maps and publishes nothing.

Which channels replay: HL7 v2 over MLLP (the source configuration as it is now), FHIR
resources (the FHIR mapping, the sender's source file's roles as they are now) and CSV rows of
a partner's upload (the partner's connector as configured now, with any consent or withdrawal
in them decided by the same screening as an upload's). Webhooks and council extracts are sent
again by their source (the partner retries, the extract re-runs); their items can be dismissed
once that is done.
"""

from __future__ import annotations

import csv
import io
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from enum import StrEnum

from hub.connectors.fhir.bundle import NO_ROLES, resource_to_events
from hub.connectors.fhir.common import load_json
from hub.connectors.hl7v2.connector import hl7_refusal
from hub.connectors.hl7v2.listener import receive
from hub.connectors.outcomes import Mapped, Outcome, Refused, translate
from hub.connectors.partners import PartnerFeed
from hub.connectors.sdk import InputError, Record, RecordError, csv_row_columns
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
class Mappers:
    """The configuration a replay maps with, read as it is now (after the engineer's fix):
    the sources (HL7 v2), the partner feeds (uploads), the stores a partner's consents are
    screened with, and the person index (a dead letter's family)."""

    sources: Callable[[], SourceRegistry]
    partners: Callable[[], dict[str, PartnerFeed]]
    changes: ChangeStores
    identity: IdentityStore


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
    _record(context, actor, entry, Status.REPLAYED)
    return Replayed(item.item_id, Result.REPLAYED, len(events), corrected=bool(correction))


def map_again(
    mappers: Mappers, sources: SourceRegistry, item: Item, raw: bytes
) -> Mapped | Refused | str:
    """The input through its connector's current mapping; a string says why it cannot be."""
    if item.channel is Channel.MLLP:
        return receive(raw, sources).outcome
    columns = csv_row_columns(item.content_type)
    if item.channel is Channel.UPLOAD and columns is not None:
        feed = mappers.partners().get(item.organisation or "")
        if feed is None or feed.config.system != item.source_system:
            return f"no partner feed of {item.organisation} sends as {item.source_system}"
        return _map_row(mappers, feed, item, columns, raw)
    if item.channel is Channel.FHIR and item.organisation is not None:
        return _map_fhir(sources, item.organisation, raw)
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


def _map_row(
    mappers: Mappers, feed: PartnerFeed, item: Item, columns: Sequence[str], raw: bytes
) -> Mapped | Refused | str:
    """A CSV row read again under its header, mapped, and screened as an upload is."""
    header = io.StringIO()
    csv.writer(header, lineterminator="\r\n").writerow(columns)
    name = f"replay-{item.item_id}.csv"
    try:
        records = list(feed.connector.read(io.BytesIO(header.getvalue().encode() + raw), name))
    except InputError as error:
        return str(error)
    if len(records) != 1:
        return f"the input reads as {len(records)} rows, not one"
    outcomes: list[Outcome] = list(translate(feed.connector, feed.config, records, utc_now()))
    screened = screen_partner_changes(
        mappers.changes, feed.organisation_code, outcomes, f"replay {item.item_id}", "upload"
    )
    if not screened:
        return "the row's change to sharing is held for a decision"
    return screened[0]


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
