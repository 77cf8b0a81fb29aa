"""What every ``hub`` command needs before it starts: settings, a broker, a checked agreement."""

from __future__ import annotations

import typer

from hub.settings import Settings


def command_group(
    help: str, *, no_args_is_help: bool = False, add_completion: bool = True
) -> typer.Typer:
    """A ``hub`` command group whose help texts are Markdown.

    Typer's default ("rich") help keeps the line breaks of every paragraph after a command's
    first, then wraps those lines again at the terminal's width, so a docstring written at 100
    columns came out ragged at 80. As Markdown, every paragraph is reflowed to the terminal.
    """
    return typer.Typer(
        help=help,
        rich_markup_mode="markdown",
        no_args_is_help=no_args_is_help,
        add_completion=add_completion,
    )


def load_settings() -> Settings:
    """The settings, read from ``HUB_*`` variables when a command starts."""
    return Settings()


def parties_checked(settings: Settings) -> Settings:
    """``settings``, once every organisation the deployment names is a party to its agreement;
    otherwise say which file names which code, and exit 2 (hub/services/parties.py)."""
    from hub.bootstrap import stray_parties
    from hub.sharing.agreement import AgreementError

    try:
        problems = stray_parties(settings)
    except (AgreementError, ValueError) as error:
        problems = [str(error)]
    if problems:
        typer.secho("The hub will not start:", fg="red", err=True)
        for problem in problems:
            typer.secho(f"  {problem}", fg="red", err=True)
        raise typer.Exit(2)
    warn_overdue_reviews(settings)
    return settings


def warn_overdue_reviews(settings: Settings) -> None:
    """Say at start which WASPI documents are past their review date: the hub still runs on
    them (the partners signed them), and ``/health`` repeats it until they are reviewed."""
    from datetime import date

    from hub.bootstrap import agreement_of

    for overdue in agreement_of(settings).overdue_reviews(date.today()):
        typer.secho(f"warning: review overdue: {overdue}", fg="yellow", err=True)


def with_local_broker(settings: Settings) -> Settings:
    """Use KAFKA_BOOTSTRAP_SERVERS if set, else the broker `hub kafka start` left running."""
    if settings.kafka_bootstrap_servers:
        return settings
    from hub.kafka.cluster import cluster_status
    from hub.kafka.local import broker_status

    broker = broker_status(settings.state_dir) or cluster_status(settings.state_dir)
    if broker is None:
        typer.secho(
            "No Kafka: set KAFKA_BOOTSTRAP_SERVERS or run `hub kafka start` first.",
            fg="red",
            err=True,
        )
        raise typer.Exit(2)
    return settings.model_copy(update={"kafka_bootstrap_servers": broker.bootstrap_servers})
