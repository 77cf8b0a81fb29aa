"""``hub clients``: register, list and revoke the clients that may call the API (ADR 0012).

``add`` prints the new client's id and its API key — once: the hub keeps only the key's hash,
so a lost key is replaced by revoking the client and adding it again. With ``--public-key`` and
``--kid`` the client can also get access tokens from ``POST /oauth2/token`` with a signed JWT.
Every command works on the database of ``HUB_DATABASE_URL`` (a SQLite file in the state
directory if unset), the one the API reads.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated

import typer

from hub.auth.store import ClientStore
from hub.bootstrap import agreement_of, database
from hub.cli.common import command_group
from hub.services.parties import Claim, strays
from hub.settings import Settings
from hub.sharing.agreement import KNOWN_ROLES

clients_app = command_group(
    help="API clients: register one (prints its API key once), list them, revoke one.",
    no_args_is_help=True,
)


@contextmanager
def _store() -> Iterator[ClientStore]:
    settings = Settings()
    settings.state_dir.mkdir(parents=True, exist_ok=True)
    with database(settings) as engine:
        store = ClientStore(engine)
        store.create_schema()
        yield store


@clients_app.command("add")
def add(
    organisation: Annotated[
        str, typer.Option(help="ODS, council or charity code of the client's organisation.")
    ],
    role: Annotated[str, typer.Option(help=f"One of: {', '.join(sorted(KNOWN_ROLES))}.")],
    user: Annotated[
        str, typer.Option(help="The person (e.g. a midwife's id), or the system's name.")
    ],
    public_key: Annotated[
        Path | None,
        typer.Option(help="RSA public key (PEM) for signed-JWT assertions at /oauth2/token."),
    ] = None,
    kid: Annotated[
        str | None,
        typer.Option(help="Key id the assertions' 'kid' header names (with --public-key)."),
    ] = None,
) -> None:
    """Register a client; print its id and API key (shown only this once). The organisation
    must be a party to the agreement (HUB_AGREEMENT_PATH): the hub would not start otherwise."""
    settings = Settings()
    agreement = agreement_of(settings)
    for problem in strays(agreement, [Claim("--organisation", "organisation", organisation)]):
        typer.secho(f"not registered: {problem}", fg="red", err=True)
        raise typer.Exit(2)
    try:
        pem = public_key.read_text("utf-8") if public_key is not None else None
        with _store() as store:
            registration = store.register(organisation, role, user, public_key_pem=pem, kid=kid)
    except (ValueError, OSError) as error:
        typer.secho(f"not registered: {error}", fg="red", err=True)
        raise typer.Exit(2) from None
    client = registration.client
    typer.echo(f"client id: {client.client_id}")
    typer.echo(f"API key:   {registration.api_key}")
    typer.echo(
        "The key is shown only now; the hub keeps its hash. Send it as "
        "'Authorization: Bearer <API key>'."
    )


@clients_app.command("list")
def list_clients() -> None:
    """Every registered client, revoked ones included (never their keys)."""
    with _store() as store:
        clients = store.clients()
    if not clients:
        typer.echo("no clients registered: add one with `hub clients add`")
        return
    for client in clients:
        state = f"revoked {client.revoked_at:%Y-%m-%d %H:%M}" if client.revoked_at else "live"
        jwt = f" kid={client.kid}" if client.kid else ""
        typer.echo(
            f"{client.client_id}  {client.organisation_code:<24} {client.role:<28} "
            f"{client.user_id:<20} {state}{jwt}"
        )


@clients_app.command("revoke")
def revoke(client_id: Annotated[str, typer.Argument(help="The client id `list` shows.")]) -> None:
    """Revoke a client: its API key and every access token it holds stop working at once."""
    with _store() as store:
        revoked = store.revoke(client_id)
    if not revoked:
        typer.secho(f"no client {client_id!r}", fg="red", err=True)
        raise typer.Exit(1)
    typer.echo(f"revoked {client_id}")
