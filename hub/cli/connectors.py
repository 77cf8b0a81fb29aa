"""``hub connector``: list connectors; scaffold, dry-run and run batch connectors.

``list`` shows both shapes, batch and message; ``test`` and ``run`` take batch connectors (a
message connector's channel feeds it: the MLLP listener, the ``/fhir`` routes). ``test``
publishes nothing: it prints the events a file would produce, or each refused record
with its location and fields, and exits 1 if any record was refused. ``run`` publishes into
Kafka through the runtime (cursor, quarantine, progress bar) and reports what disappeared.
"""

from __future__ import annotations

import asyncio
import tomllib
from pathlib import Path
from typing import Annotated, Any, BinaryIO

import typer
from rich.progress import BarColumn, DownloadColumn, Progress, TimeRemainingColumn

from hub.cli.common import command_group
from hub.connectors.discovery import installed, load_connector
from hub.connectors.outcomes import Mapped, translate
from hub.connectors.runtime import ExtractReport
from hub.connectors.sdk import Connector, ConnectorConfig, InputError
from hub.events import utc_now
from hub.settings import Settings

connector_app = command_group(
    help="Connectors: list the installed ones, scaffold a new one, dry-run or run one on a file.",
    no_args_is_help=True,
)

ConfigOption = Annotated[
    Path | None,
    typer.Option("--config", help="TOML file of the connector's settings; its example if omitted."),
]


def named_connector(name: str) -> Connector[Any]:
    try:
        return load_connector(name)
    except LookupError as error:
        typer.secho(str(error), fg="red", err=True)
        raise typer.Exit(2) from None


def connector_config(connector: Connector[Any], path: Path | None) -> ConnectorConfig:
    try:
        values = tomllib.loads(path.read_text("utf-8")) if path else connector.example_config
        config: ConnectorConfig = connector.config(values)
        return config
    except (InputError, tomllib.TOMLDecodeError, OSError) as error:
        typer.secho(f"{path}: {error}", fg="red", err=True)
        raise typer.Exit(2) from None


@connector_app.command("list")
def list_connectors() -> None:
    """Every installed connector (entry-point group ``hub.connectors``): its kind, the channels
    that feed it, what it maps and the package it comes from.

    Kind ``batch``: a file or view read into records (``hub connector test`` / ``run``, a
    partner's upload or webhook). Kind ``message``: one message at a time from its channel
    (``mllp``: ``hub mllp``; ``fhir-rest``: ``/fhir``), answered at once.
    """
    typer.echo(f"{'NAME':<22} {'KIND':<8} {'CHANNELS':<25} SUMMARY  [PACKAGE]")
    for found in installed():
        channels = ", ".join(found.channels)
        typer.echo(
            f"{found.name:<22} {found.kind:<8} {channels:<25} {found.summary}  [{found.package}]"
        )


@connector_app.command("test")
def dry_run(
    name: Annotated[str, typer.Argument(help="Connector name (see `hub connector list`).")],
    file: Annotated[Path, typer.Argument(help="An input file to dry-run.", exists=True)],
    config: ConfigOption = None,
) -> None:
    """Dry-run FILE: print the events it would publish (JSON lines) and every refused record.

    Publishes nothing. Exit status: 0 all mapped, 1 some records refused, 2 unusable input.
    """
    connector = named_connector(name)
    settings = connector_config(connector, config)
    mapped = refused = events = 0
    try:
        with file.open("rb") as stream:
            for outcome in translate(
                connector, settings, connector.read_with(stream, file.name, settings), utc_now()
            ):
                if isinstance(outcome, Mapped):
                    mapped += 1
                    for event in outcome.events:
                        events += 1
                        typer.echo(event.model_dump_json(exclude={"recorded_at"}))
                else:
                    refused += 1
                    typer.secho(f"refused {outcome.describe()}", fg="red", err=True)
    except InputError as error:
        typer.secho(str(error), fg="red", err=True)
        raise typer.Exit(2) from None
    typer.echo(
        f"{mapped + refused} records: {mapped} mapped to {events} events, {refused} refused "
        "(dry run: nothing published)",
        err=True,
    )
    if refused:
        raise typer.Exit(1)


@connector_app.command("run")
def run_connector(
    name: Annotated[str, typer.Argument(help="Connector name (see `hub connector list`).")],
    file: Annotated[Path, typer.Argument(help="The extract file.", exists=True)],
    config: Annotated[Path, typer.Option("--config", help="TOML settings.", exists=True)],
    extract: Annotated[
        str | None,
        typer.Option(help="Cursor name: runs of one extract share it; NAME:system if omitted."),
    ] = None,
) -> None:
    """Publish what is new or changed in FILE since the last run of this extract.

    Refused records are quarantined with their location and fields, and listed; records the
    previous runs saw and this file no longer has are reported as disappeared. Interrupted?
    Run it again: what was acknowledged is skipped.
    """
    from hub.cli.common import with_local_broker

    connector = named_connector(name)
    settings_ = connector_config(connector, config)
    hub_settings = with_local_broker(Settings())
    cursor_name = extract or f"{name}:{settings_.system}"
    try:
        with file.open("rb") as stream, _progress() as progress:
            task = progress.add_task(file.name, total=file.stat().st_size)
            report = asyncio.run(
                _run(
                    connector,
                    settings_,
                    stream,
                    file.name,
                    cursor_name,
                    hub_settings,
                    lambda _: progress.update(task, completed=stream.tell()),
                )
            )
            progress.update(task, completed=file.stat().st_size)
    except InputError as error:
        typer.secho(str(error), fg="red", err=True)
        raise typer.Exit(2) from None
    _print_report(report)
    if report.refused:
        raise typer.Exit(1)


def _progress() -> Progress:
    return Progress(
        "[progress.description]{task.description}",
        BarColumn(),
        DownloadColumn(),
        TimeRemainingColumn(),
        transient=True,
    )


async def _run(
    connector: Connector[Any],
    config: ConnectorConfig,
    stream: BinaryIO,
    input_name: str,
    extract: str,
    settings: Settings,
    progress: Any,
) -> ExtractReport:
    from hub.bootstrap import database, publishing
    from hub.connectors.cursors import CursorStore
    from hub.connectors.runtime import run_extract
    from hub.sharing.store import SharingStore

    with database(settings) as engine:
        cursors = CursorStore(engine)
        cursors.create_schema()
        sharing = SharingStore(engine)  # a partner's file may withdraw consent: it binds at once
        sharing.create_schema()
        with publishing(settings, f"hub-connector-{extract}", sharing=sharing) as sink:
            return await run_extract(
                connector,
                config,
                connector.read_with(stream, input_name, config),
                extract=extract,
                input_name=input_name,
                sink=sink,
                cursors=cursors,
                progress=progress,
            )


def _print_report(report: ExtractReport) -> None:
    typer.echo(
        f"run {report.run_id}: {report.records} records, {report.published} events published, "
        f"{report.unchanged} unchanged, {report.changed} changed, {report.refused} refused "
        f"(quarantined), {len(report.disappeared)} disappeared"
    )
    for refused in report.refusals:
        typer.secho(f"refused {refused.describe()}", fg="red", err=True)
    if report.refused > len(report.refusals):
        typer.echo(f"... and {report.refused - len(report.refusals)} more refused", err=True)
    for key in report.disappeared:
        typer.echo(f"disappeared {key}")


@connector_app.command("new")
def new_connector(
    name: Annotated[str, typer.Argument(help="Lower-case words joined by hyphens.")],
    directory: Annotated[Path, typer.Option(help="Where to write the package.")] = Path("."),
) -> None:
    """Scaffold hub-connector-NAME: a connector module, a sample, a config example, a golden
    test and the conformance suite, registered in the hub.connectors entry points."""
    from hub.connectors.scaffold import scaffold

    try:
        root = scaffold(name, directory)
    except (ValueError, FileExistsError) as error:
        typer.secho(str(error), fg="red", err=True)
        raise typer.Exit(2) from None
    # pip looks a bare name up on the package index: name the directory as a path.
    local = root if root.is_absolute() else f"./{root}"
    typer.echo(f"created {root}")
    typer.echo(f"next: pip install {local} && hub connector test {name} {local}/*/sample.csv")
