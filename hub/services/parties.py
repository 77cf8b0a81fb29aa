"""Every organisation the hub's configuration names must be a party to the agreement.

A source whose owner, a clinic whose organisation, a partner feed, or a registered client that
is no party to the data-sharing agreement is a code that disagrees with it: the organisation's
records are filed under a code the policy knows nothing of, so its own staff lose them and no
consent or withdrawal can name it (issue 16). The API, the worker, the MLLP listener and
``hub run`` refuse to start, and ``hub agreement check`` fails, naming the file and the code.

:func:`strays` decides (pure); :func:`configured_claims` and :func:`client_claims` read what
the configuration and the database name.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from hub.auth.store import ClientStore
from hub.connectors.partners import DEFAULT_PARTNERS_DIR, PartnerFile
from hub.connectors.sources import DEFAULT_SOURCES_DIR, read_sources
from hub.settings import Settings
from hub.sharing.agreement import Agreement


@dataclass(frozen=True)
class Claim:
    """``where`` (a file, or a registered client) names ``code`` as ``what`` belongs to."""

    where: str
    what: str
    code: str


def strays(agreement: Agreement, claims: Iterable[Claim]) -> list[str]:
    """One line per claim whose organisation is no party to ``agreement``; empty when all are."""
    return [
        f"{claim.where}: {claim.what} {claim.code!r} is not a party to the agreement "
        f"(version {agreement.version}); add it to the agreement or correct the code"
        for claim in claims
        if claim.code not in agreement.organisations
    ]


def configured_claims(settings: Settings) -> list[Claim]:
    """What the source files (owner and clinics) and the partner feed files name."""
    claims = []
    for path, source in read_sources(settings.sources_dir or DEFAULT_SOURCES_DIR):
        claims.append(Claim(str(path), "organisation_code", source.organisation_code))
        claims.extend(
            Claim(str(path), f"clinics.{clinic}", code) for clinic, code in source.clinics.items()
        )
    for path in sorted((settings.partners_dir or DEFAULT_PARTNERS_DIR).glob("*.toml")):
        partner = PartnerFile.read(path)
        claims.append(Claim(str(path), "organisation_code", partner.organisation_code))
    return claims


def client_claims(clients: ClientStore) -> list[Claim]:
    """The organisations of the live registered clients (a revoked one reads nothing)."""
    return [
        Claim(f"registered client {c.client_id}", "organisation", c.organisation_code)
        for c in clients.clients()
        if c.revoked_at is None
    ]


def check_parties(settings: Settings, agreement: Agreement, clients: ClientStore) -> list[str]:
    """What :func:`strays` finds in this deployment: its agreement, its configuration files and
    the clients registered in its database. Every process checks it at start, with the
    agreement and the store the composition root gives (:func:`hub.bootstrap.stray_parties`)."""
    return strays(agreement, [*configured_claims(settings), *client_claims(clients)])
