"""``hub quarantine``: the error queue for the hub's operators (ADR 0030).

``list`` what was refused (filters by source, channel, reason, status and time), ``show`` one
item — its input decoded as far as it goes, every error, for HL7 the segment and value each
error names, its corrections — ``correct`` it with an edited copy, ``replay`` it (or every item
a filter takes, ``--dry-run`` first to see what would map), ``dismiss`` it with a reason, and
``purge`` what is older than the retention. The command line is the operators' tool on the
hub's own host, which holds the database and the key store: it sees every item. Integration
engineers of an organisation use the API (``/quarantine``) or the queue page, which show only
their organisation's input and record a disclosure when they open raw content.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated

import typer

from hub.cli.common import command_group
from hub.errorqueue.fold import Channel, Filter, Operator, Status
from hub.errorqueue.store import Entry
from hub.services.errors import UseCaseError
from hub.services.quarantine import QueueContext, entry_json
from hub.services.quarantine_replay import ExtractMapping, Mappers, Replayed, Result

quarantine_app = command_group(
    help="The error queue: list, show, correct, replay and dismiss what the hub refused.",
    no_args_is_help=True,
)

SourceOpt = Annotated[str | None, typer.Option(help="Only this source system.")]
ChannelOpt = Annotated[Channel | None, typer.Option(help="Only this channel.")]
ReasonOpt = Annotated[
    str | None, typer.Option(help="Only items whose reason or an error contains this text.")
]
SinceOpt = Annotated[
    datetime | None, typer.Option(help="Only items last seen at or after (ISO 8601; UTC if bare).")
]
UntilOpt = Annotated[datetime | None, typer.Option(help="Only items last seen before.")]
StatusOpt = Annotated[Status | None, typer.Option(help="Only items of this status.")]


@contextmanager
def _queue() -> Iterator[tuple[QueueContext, Mappers]]:
    from hub.bootstrap import build_hub, error_queue
    from hub.cli.common import load_settings, with_local_broker

    settings = with_local_broker(load_settings())
    settings.state_dir.mkdir(parents=True, exist_ok=True)
    hub = build_hub(settings, client_id="hub-quarantine")
    try:
        yield error_queue(hub)
    finally:
        hub.close()


def _filter(
    source: str | None,
    channel: Channel | None,
    reason: str | None,
    since: datetime | None,
    until: datetime | None,
    status: Status | None,
) -> Filter:
    def aware(at: datetime | None) -> datetime | None:
        return at if at is None or at.tzinfo else at.replace(tzinfo=UTC)

    return Filter(source, channel, reason, aware(since), aware(until), status)


def _fail(error: UseCaseError) -> typer.Exit:
    typer.secho(str(error), fg="red", err=True)
    return typer.Exit(1)


def _line(entry: Entry) -> str:
    item = entry.item
    first = entry.errors[0] if entry.errors else None
    error = f"{first.location}: {first.message}" if first else item.reason
    return (
        f"{item.item_id}  {entry.status.value:<9} {item.channel.value:<11} "
        f"{item.source_system or '-':<24} {item.organisation or '-':<8} x{item.times:<3} "
        f"{item.last_seen:%Y-%m-%d %H:%M}  {error}"
    )


@quarantine_app.command("list")
def list_command(
    source: SourceOpt = None,
    channel: ChannelOpt = None,
    reason: ReasonOpt = None,
    since: SinceOpt = None,
    until: UntilOpt = None,
    status: StatusOpt = None,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object per line.")] = False,
) -> None:
    """The refused items, last seen first: id, status, channel, source, organisation, times
    refused, last seen and the first error."""
    from hub.services.quarantine import list_items

    with _queue() as (context, _):
        entries = list_items(
            context, Operator(), _filter(source, channel, reason, since, until, status)
        )
    for entry in entries:
        typer.echo(json.dumps(entry_json(entry)) if as_json else _line(entry))
    if not as_json:
        typer.echo(f"{len(entries)} item(s)")


@quarantine_app.command("show")
def show(item_id: Annotated[uuid.UUID, typer.Argument(help="The item's id (from list).")]) -> None:
    """One item: what was refused and why, the input decoded as far as it goes, for HL7 the
    segment and value each error names, and its corrections."""
    from hub.services.quarantine import show_item

    with _queue() as (context, _):
        try:
            shown = asyncio.run(
                show_item(context, Operator(), item_id, reference=f"hub quarantine show {item_id}")
            )
        except UseCaseError as error:
            raise _fail(error) from None
    typer.echo(_line(shown.entry))
    typer.echo(f"reason: {shown.reason}")
    if shown.entry.item.failed_at:
        place = shown.entry.item.failed_at
        typer.echo(f"failed at: {place.topic}[{place.partition}]@{place.offset}")
    typer.echo("errors:")
    for field_error in shown.errors:
        typer.echo(f"  {field_error.location}: {field_error.message}")
    for found in shown.located:
        typer.echo(
            f"  {found.location} = {found.value!r} in: {found.segment or '(no such segment)'}"
        )
    typer.echo("input:" if shown.text is not None or shown.entry_text else "input: (erased)")
    for line in (shown.text or shown.entry_text or "").splitlines():
        typer.echo(f"  {line}")
    for correction in shown.corrections:
        by = "/".join(filter(None, (correction.by_organisation, correction.by_user)))
        typer.echo(f"corrected {correction.at:%Y-%m-%d %H:%M} by {by}: {correction.why}")
        for line in (correction.text or "(erased)").splitlines():
            typer.echo(f"  {line}")


@quarantine_app.command("correct")
def correct_command(
    item_id: Annotated[uuid.UUID, typer.Argument(help="The item's id.")],
    copy: Annotated[
        Path,
        typer.Option("--file", help="The corrected input: HL7 message, FHIR resource or CSV row."),
    ],
    why: Annotated[str, typer.Option(help="Why it was corrected (kept with the copy).")],
) -> None:
    """Keep a corrected copy beside the original; ``replay`` then maps the copy."""
    from hub.services.quarantine import correct

    with _queue() as (context, _):
        try:
            correction = correct(context, Operator(), item_id, copy.read_bytes(), why)
        except UseCaseError as error:
            raise _fail(error) from None
    typer.echo(f"{item_id}: corrected copy {correction.correction_id} kept; replay it to map it")


@contextmanager
def _extract(
    name: str | None, config: Path | None, cursor: str | None
) -> Iterator[ExtractMapping | None]:
    """The extract's connector, settings and cursor, when the operator names them."""
    if name is None or config is None:
        yield None
        return
    from hub.bootstrap import database
    from hub.cli.common import load_settings
    from hub.cli.connectors import connector_config, named_connector
    from hub.connectors.cursors import CursorStore

    connector = named_connector(name)
    settings = connector_config(connector, config)
    with database(load_settings()) as engine:
        cursors = CursorStore(engine)
        cursors.create_schema()
        yield ExtractMapping(connector, settings, cursor or f"{name}:{settings.system}", cursors)


def _report(results: list[Replayed], dry_run: bool) -> None:
    for result in results:
        extra = f"{result.events} event(s)" if result.events else ""
        if result.corrected:
            extra += " (corrected copy)"
        typer.echo(f"{result.item_id}  {result.result.value:<14} {extra}".rstrip())
        for field_error in result.errors:
            typer.echo(f"    {field_error.location}: {field_error.message}")
    counts = {r: sum(1 for x in results if x.result is r) for r in Result}
    summary = ", ".join(f"{n} {r.value}" for r, n in counts.items() if n)
    typer.echo(("dry run: " if dry_run else "") + (summary or "nothing to replay"))


@quarantine_app.command("replay")
def replay_command(
    item_ids: Annotated[
        list[uuid.UUID] | None,
        typer.Argument(help="Items to replay; none: every item the filter takes."),
    ] = None,
    source: SourceOpt = None,
    channel: ChannelOpt = None,
    reason: ReasonOpt = None,
    since: SinceOpt = None,
    until: UntilOpt = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Map, say what would map, publish nothing.")
    ] = False,
    connector: Annotated[
        str | None,
        typer.Option(help="Extract rows: the connector their extract runs with (with --config)."),
    ] = None,
    config: Annotated[
        Path | None,
        typer.Option(help="Extract rows: the extract's TOML settings, as fixed.", exists=True),
    ] = None,
    extract: Annotated[
        str | None,
        typer.Option(help="Extract rows: the extract's cursor name; CONNECTOR:system if omitted."),
    ] = None,
) -> None:
    """Map refused input again with its connector's current configuration (or its corrected
    copy) and publish what now maps, with the ids it would have had; a dead letter goes back
    onto the topic it failed on. Without ids, every open or corrected item the filter takes.

    A council extract's CSV rows map with the connector and settings file its runs are given
    (--connector, --config, and --extract if its runs name their cursor); each replayed row is
    then in the extract's cursor, so the next run finds it unchanged. Exits 1 when an item
    still fails."""
    from hub.services.quarantine_replay import replay, replay_matching

    if (connector is None) != (config is None):
        typer.secho("give --connector and --config together", fg="red", err=True)
        raise typer.Exit(2)
    with _queue() as (context, mappers), _extract(connector, config, extract) as rows:
        mappers = replace(mappers, extract=rows)
        try:
            if item_ids:
                run = replay(context, mappers, Operator(), item_ids, dry_run=dry_run)
            else:
                wanted = _filter(source, channel, reason, since, until, None)
                run = replay_matching(context, mappers, Operator(), wanted, dry_run=dry_run)
            results = asyncio.run(run)
        except UseCaseError as error:
            raise _fail(error) from None
    _report(results, dry_run)
    if any(r.result is Result.STILL_FAILS for r in results):
        raise typer.Exit(1)


@quarantine_app.command("dismiss")
def dismiss_command(
    item_id: Annotated[uuid.UUID, typer.Argument(help="The item's id.")],
    reason: Annotated[str, typer.Option(help="Why it needs nothing more (kept with it).")],
) -> None:
    """Mark an item dismissed: a bulk replay leaves it alone."""
    from hub.services.quarantine import dismiss

    with _queue() as (context, _):
        try:
            dismiss(context, Operator(), item_id, reason)
        except UseCaseError as error:
            raise _fail(error) from None
    typer.echo(f"{item_id}: dismissed")


@quarantine_app.command("purge")
def purge_command(
    days: Annotated[
        float | None,
        typer.Option(help="Older than this many days; HUB_QUARANTINE_RETENTION_DAYS if unset."),
    ] = None,
) -> None:
    """Delete items last seen longer ago than the retention, with their corrections."""
    with _queue() as (context, _):
        keep = context.settings.quarantine_retention_days if days is None else days
        cutoff = context.clock() - timedelta(days=keep)
        removed = context.store.purge(context.store.last_seen_before(cutoff))
    typer.echo(f"{removed} item(s) last seen before {cutoff:%Y-%m-%d %H:%M} purged")
