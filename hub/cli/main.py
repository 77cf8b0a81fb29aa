"""The ``hub`` command line: run the hub, manage the local broker, check schemas.

Every command builds its :class:`~hub.settings.Settings` from the environment (``HUB_*`` and
``KAFKA_BOOTSTRAP_SERVERS``); ``hub --help`` and ``hub COMMAND --help`` list the options.
"""

from __future__ import annotations

import logging
from datetime import date
from pathlib import Path
from typing import Annotated

import typer

from hub.cli.clients import clients_app
from hub.cli.common import command_group, load_settings, parties_checked, with_local_broker
from hub.cli.connectors import connector_app
from hub.cli.outcomes import outcomes_app
from hub.cli.quarantine import quarantine_app
from hub.cli.subscriptions import subscriptions_app
from hub.settings import Settings

app = command_group(
    help="Think Family Hub: multi-agency case-events on Kafka, projections and alerts.",
    no_args_is_help=True,
    add_completion=False,
)
kafka_app = command_group(
    help="A local Kafka (KRaft), fetched with Maven: one broker, or a cluster with --nodes."
)
schemas_app = command_group(help="The Avro case-event contract in schemas/avro/.")
app.add_typer(kafka_app, name="kafka")
app.add_typer(schemas_app, name="schemas")
agreement_app = command_group(help="The data-sharing agreement the policy decides by.")
app.add_typer(agreement_app, name="agreement")
app.add_typer(connector_app, name="connector")
app.add_typer(clients_app, name="clients")
app.add_typer(subscriptions_app, name="subscriptions")
app.add_typer(quarantine_app, name="quarantine")
app.add_typer(outcomes_app, name="outcomes")
keys_app = command_group(help="The key store: subjects' data keys, wrapped (ADR 0009, ADR 0020).")
app.add_typer(keys_app, name="keys")


@app.callback()
def _private_state() -> None:
    """Before any command: what this process writes under HUB_STATE_DIR is the owner's alone."""
    from hub.storage.files import private_state

    private_state(load_settings().state_dir)


@kafka_app.command("start")
def kafka_start(
    port: Annotated[int | None, typer.Option(help="Client port; a free one if omitted.")] = None,
    nodes: Annotated[
        int,
        typer.Option(
            min=1,
            help="Nodes (combined broker+controller). 3: replication factor 3, "
            "min.insync.replicas 2, free ports, fresh data on each start; --port is ignored.",
        ),
    ] = 1,
) -> None:
    """Fetch the broker jars (once), then start the broker (or cluster) in the background."""
    from hub.kafka.cluster import start_cluster
    from hub.kafka.local import JavaNotFoundError, MavenNotFoundError, start_broker

    settings = load_settings()
    try:
        if nodes > 1:
            cluster = start_cluster(settings.state_dir, settings.resolved_kafka_jars_dir(), nodes)
            pids = ", ".join(str(node.pid) for node in cluster.nodes)
            typer.echo(
                f"Kafka cluster is running (pids {pids}); data: {cluster.nodes[0].home.parent}"
            )
            typer.echo(f"export KAFKA_BOOTSTRAP_SERVERS={cluster.bootstrap_servers}")
            return
        broker = start_broker(settings.state_dir, settings.resolved_kafka_jars_dir(), port=port)
    except (JavaNotFoundError, MavenNotFoundError) as error:
        typer.secho(str(error), fg="red", err=True)
        raise typer.Exit(2) from None
    typer.echo(f"Kafka is running (pid {broker.pid}); log: {broker.log_file}")
    typer.echo(f"export KAFKA_BOOTSTRAP_SERVERS={broker.bootstrap_servers}")


@kafka_app.command("stop")
def kafka_stop() -> None:
    """Stop the local broker (its data is kept for the next start) and any local cluster."""
    from hub.kafka.cluster import stop_cluster
    from hub.kafka.local import stop_broker

    state_dir = load_settings().state_dir
    stopped = [stop_broker(state_dir), stop_cluster(state_dir)]
    typer.echo("stopped" if any(stopped) else "no local broker was running")


@kafka_app.command("status")
def kafka_status() -> None:
    """Say whether the local broker (or cluster) runs, and where; exit 1 if neither does."""
    from hub.kafka.cluster import cluster_status
    from hub.kafka.local import _alive, broker_status

    cluster = cluster_status(load_settings().state_dir)
    if cluster is not None:
        for node in cluster.nodes:
            state = f"pid {node.pid}" if node.pid and _alive(node.pid) else "down"
            typer.echo(
                f"node {node.node_id}: {state}, {node.bootstrap_servers}, log {node.log_file}"
            )
    broker = broker_status(load_settings().state_dir)
    if broker is None and cluster is not None:
        return
    if broker is None:
        typer.echo("no local broker is running")
        raise typer.Exit(1)
    typer.echo(f"running: pid {broker.pid}, bootstrap servers {broker.bootstrap_servers}")
    typer.echo(f"data: {broker.home}; log: {broker.log_file}")


@schemas_app.command("check")
def schemas_check(
    schema_dir: Annotated[Path, typer.Option(help="Directory of .avsc files.")] = Path(
        "schemas/avro"
    ),
) -> None:
    """Fail when a schema cannot read data written with its previous committed version."""
    from hub.kafka.schema_check import check_directory

    reports = check_directory(schema_dir)
    if not reports:
        typer.secho(f"no .avsc files in {schema_dir}", fg="red", err=True)
        raise typer.Exit(2)
    failed = False
    for report in reports:
        against = report.compared_with or "no previous version"
        if report.ok and report.compared_with is None:
            typer.echo(f"ok      {report.path.name} (new: no previous committed version)")
            continue
        if report.ok:
            typer.echo(f"ok      {report.path.name} (backward compatible with {against})")
            continue
        failed = True
        typer.secho(f"BREAKS  {report.path.name} (against {against})", fg="red")
        for problem in report.problems:
            typer.echo(f"        - {problem}")
    if failed:
        raise typer.Exit(1)


@agreement_app.command("check")
def agreement_check(
    path: Annotated[
        Path | None,
        typer.Argument(help="Agreement TOML; HUB_AGREEMENT_PATH or config/sharing/ if omitted."),
    ] = None,
) -> None:
    """Validate an agreement file, print its organisations, flows and change rules, and check
    that every organisation the hub's configuration names is a party to it: the owner and
    clinics of each source (HUB_SOURCES_DIR), each partner feed (HUB_PARTNERS_DIR) and each live
    registered client (HUB_DATABASE_URL). Exits 1 naming each file and code that is not; the
    API, worker, MLLP listener and `hub run` refuse to start in that case."""
    from hub.bootstrap import agreement_of, stray_parties
    from hub.sharing.agreement import DEFAULT_AGREEMENT, AgreementError
    from hub.sharing.changes import WIDENING

    settings = Settings()
    chosen = path or settings.agreement_path or DEFAULT_AGREEMENT
    settings = settings.model_copy(update={"agreement_path": chosen})
    try:
        agreement = agreement_of(settings)
        problems = stray_parties(settings)
    except (AgreementError, ValueError) as error:
        typer.secho(f"invalid: {error}", fg="red", err=True)
        raise typer.Exit(1) from error
    if problems:
        typer.secho(f"MISMATCH {chosen}: organisations that are no party to it", fg="red")
        for problem in problems:
            typer.secho(f"  {problem}", fg="red")
        raise typer.Exit(1)
    typer.echo(f"ok      {chosen}: version {agreement.version} ({agreement.title})")
    for code, organisation in sorted(agreement.organisations.items()):
        typer.echo(
            f"  organisation {code:<24} {organisation.kind:<16} "
            f"{organisation.jurisdiction:<8} {organisation.name}"
        )
    for flow in agreement.flows:
        to = ", ".join([*flow.recipient_kinds, *flow.recipient_organisations])
        review = " (each request reviewed)" if flow.review else ""
        between = f" between {flow.between} organisations" if flow.between else ""
        typer.echo(
            f"  flow {flow.name}: {to} may see {', '.join(flow.categories)} for "
            f"{', '.join(flow.purposes)} on {flow.basis}{review}{between}"
        )
        if flow.legislation:
            typer.echo(f"    cites {', '.join(flow.legislation)}")
        if flow.waspi:
            typer.echo(
                f"    {flow.waspi.type} {flow.waspi.reference!r} version {flow.waspi.version}, "
                f"review by {flow.waspi.review_date.isoformat()}"
            )
    for overdue in agreement.overdue_reviews(date.today()):
        typer.secho(f"  review overdue: {overdue}", fg="yellow")
    for rule in agreement.change_rules:
        involved = ", if involved with the person" if rule.involved else ""
        naming = f", naming {'/'.join(rule.recipient_kinds)}" if rule.recipient_kinds else ""
        own = f"; naming its own organisation: {rule.own_organisation}"
        typer.echo(
            f"  change {rule.change}: {'/'.join(rule.organisation_kinds)} "
            f"{', '.join(rule.roles)}{involved}{naming}"
            f"{own if rule.change in WIDENING else ''}"
        )


@agreement_app.command("export")
def agreement_export(
    out: Annotated[
        Path,
        typer.Option(
            help="Directory to write `partner-organisations.*` and `information-reference.*` into."
        ),
    ] = Path("."),
    form: Annotated[str, typer.Option("--format", help="csv or markdown.")] = "markdown",
    document: Annotated[
        str | None,
        typer.Option(help="Only the flows of this WASPI document (its reference); all if omitted."),
    ] = None,
    path: Annotated[
        Path | None,
        typer.Argument(help="Agreement TOML; HUB_AGREEMENT_PATH or config/sharing/ if omitted."),
    ] = None,
) -> None:
    """Write the WASPI tables of the agreement's Welsh flows: the ISP's Partner organisations
    and its Information Reference Table (one row per flow), as CSV or Markdown (docs/wales.md).
    Exits 1 when the agreement is invalid or no flow names that document."""
    from hub.bootstrap import agreement_of
    from hub.sharing.agreement import DEFAULT_AGREEMENT, AgreementError
    from hub.sharing.isp_tables import (
        TableFormat,
        documented_flows,
        partner_table,
        reference_table,
        render,
    )

    try:
        chosen = TableFormat(form)
    except ValueError:
        typer.secho(f"--format must be csv or markdown, not {form!r}", fg="red", err=True)
        raise typer.Exit(2) from None
    settings = load_settings()
    source = path or settings.agreement_path or DEFAULT_AGREEMENT
    try:
        agreement = agreement_of(settings.model_copy(update={"agreement_path": source}))
    except AgreementError as error:
        typer.secho(f"invalid: {error}", fg="red", err=True)
        raise typer.Exit(1) from error
    flows = documented_flows(agreement, document)
    if not flows:
        which = f"document {document!r}" if document else "a WASPI document"
        typer.secho(f"no flow of {source} names {which}", fg="red", err=True)
        raise typer.Exit(1)
    suffix = "csv" if chosen is TableFormat.CSV else "md"
    out.mkdir(parents=True, exist_ok=True)
    for name, table in (
        ("partner-organisations", partner_table(agreement, flows)),
        ("information-reference", reference_table(agreement, flows)),
    ):
        target = out / f"{name}.{suffix}"
        target.write_text(render(table, chosen), encoding="utf-8", newline="")
        typer.echo(f"wrote {target} ({len(table[1])} rows)")


@app.command("topics")
def topics() -> None:
    """Create the hub's topics where missing."""
    from hub.kafka.admin import ensure_topics

    created = ensure_topics(with_local_broker(load_settings()))
    typer.echo(f"created: {', '.join(created)}" if created else "all topics exist")


@app.command("worker")
def worker(loglevel: Annotated[str, typer.Option(help="Log level.")] = "info") -> None:
    """Run the Faust worker that maintains the projections (until Ctrl-C)."""
    from hub.processes.worker import run_worker

    run_worker(with_local_broker(parties_checked(load_settings())), loglevel=loglevel)


@app.command("api")
def api() -> None:
    """Serve the HTTP API (settings: HUB_API_HOST, HUB_API_PORT; limits: `HUB_BODY_LIMIT_*`,
    `HUB_HTTP_*`)."""
    from hub.http.app import create_api
    from hub.http.server import api_server

    settings = with_local_broker(parties_checked(load_settings()))
    logging.basicConfig(level=settings.log_level.upper())
    api_server(create_api(settings), settings).run()


@app.command("mllp")
def mllp() -> None:
    """Listen for HL7 v2 over MLLP (settings: HUB_MLLP_HOST, HUB_MLLP_PORT, HUB_SOURCES_DIR;
    group commit of concurrent senders: HUB_MLLP_GROUP_WINDOW_MS, HUB_MLLP_GROUP_MAX_EVENTS).
    One process; with HUB_MLLP_PROCESSES above 1 it binds with SO_REUSEPORT so that that many
    `hub mllp` share the port (`hub run` starts them)."""
    from hub.bootstrap import publishing
    from hub.connectors.hl7v2.listener import serve

    settings = with_local_broker(parties_checked(load_settings()))
    logging.basicConfig(level=settings.log_level.upper())
    with publishing(settings, "hub-mllp") as sink:
        serve(settings, sink)


@app.command("demo")
def demo() -> None:
    """Publish the demo stories, Salford's and Newport's (idempotent: loading them twice
    changes nothing)."""
    from hub.processes.demo import publish_demo

    for line in publish_demo(with_local_broker(load_settings())):
        typer.echo(line)


@app.command("replay")
def replay(
    projection: Annotated[
        str,
        typer.Argument(
            help="missed_appointment_alerts, team_around_the_family or outcomes (the "
            "projection's name)."
        ),
    ],
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")] = False,
) -> None:
    """Rebuild PROJECTION from the start of the log into fresh tables, then swap them in.

    Reads the family topic from offset 0 with a consumer of its own (no offsets committed),
    applies every entry into `<table>__rebuild` tables with their own log positions, keeps
    reading until it has everything the live projection has applied, then in one database
    transaction renames the live tables away, renames the rebuilt ones into place, drops the
    old ones and moves the positions. The worker and the API keep serving the live tables until
    that moment. Progress (entries applied of those to read, rate) is printed to stderr every
    few seconds. ADR 0015.
    """
    from sqlalchemy.engine import make_url

    from hub.processes.replay import replay as run_replay
    from hub.projections.replay import Progress, ReplayError, describe, replayable

    settings = with_local_broker(load_settings())
    try:
        replayable(projection)
    except ReplayError as error:
        typer.secho(str(error), fg="red", err=True)
        raise typer.Exit(2) from None
    if not yes:
        typer.confirm(
            f"Rebuild {projection} from {settings.family_events_topic} into fresh tables in "
            f"{make_url(settings.resolved_database_url()).render_as_string(hide_password=True)} "
            "and swap them in?",
            abort=True,
        )

    def show(step: Progress) -> None:
        typer.echo(describe(step), err=True)

    try:
        run_replay(settings, projection, progress=show)
    except ReplayError as error:
        typer.secho(f"replay failed: {error}", fg="red", err=True)
        raise typer.Exit(1) from None
    typer.echo(f"{projection}: the rebuilt tables are live")


@app.command("run")
def run() -> None:
    """Start everything on embedded defaults with demo data; Ctrl-C stops it all."""
    from hub.processes.supervisor import run_all

    raise typer.Exit(run_all(parties_checked(load_settings())))


@keys_app.command("migrate")
def keys_migrate() -> None:
    """Move subject keys from the projection database (a state from before ADR 0020, in clear)
    into the key store, wrapped with the key-encryption key, then drop them there; wrap webhook
    signing secrets stored in clear. Run once, with every hub process stopped, after backing up
    the database."""
    from hub.bootstrap import database
    from hub.erasure.keystore import migrate_legacy_keys
    from hub.subscriptions.store import SubscriptionStore

    settings = load_settings()
    moved = migrate_legacy_keys(settings)
    typer.echo(f"{moved} subject keys moved into the key store; none are left in the projections")
    with database(settings) as engine:
        wrapped = SubscriptionStore(engine, settings.key_wrapper()).wrap_clear_secrets()
    typer.echo(f"{wrapped} webhook signing secrets wrapped")


def main() -> None:
    app()
