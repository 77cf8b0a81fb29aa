"""Where the hub may send webhooks: the public internet, and only the private networks an
operator names (protection against server-side request forgery).

A subscriber chooses the URL, so without a check any authenticated client could make the worker
POST to the hub's own network — the PostgreSQL host, a cloud metadata endpoint
(169.254.169.254), an admin port on 127.0.0.1 — and read success or failure back from the
dead-letter list. Every address the URL's host resolves to must be globally routable, or inside
a network of ``HUB_SUBSCRIPTION_ALLOWED_NETWORKS`` (e.g. a partner reached over HSCN on
10.0.0.0/8; the tests' receivers on 127.0.0.0/8). The check runs when the subscription is made
(422) and again before every attempt, since DNS answers change (ADR 0016).
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from urllib.parse import urlsplit

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
Resolver = Callable[[str, int], Iterable[str]]


class RefusedDestinationError(ValueError):
    """A webhook URL the hub will not send to, and why."""


def resolve(host: str, port: int) -> list[str]:
    """Every address ``host`` resolves to (the system resolver)."""
    try:
        found = socket.getaddrinfo(host, port, proto=socket.IPPROTO_TCP)
    except (socket.gaierror, UnicodeError) as error:
        raise RefusedDestinationError(f"{host!r} does not resolve: {error}") from None
    return [str(info[4][0]) for info in found]


@dataclass(frozen=True)
class Destinations:
    """The networks besides the public internet that webhooks may go to."""

    allowed: tuple[IPNetwork, ...] = ()
    resolver: Resolver = resolve

    @classmethod
    def of(cls, networks: Iterable[str]) -> Destinations:
        return cls(tuple(ipaddress.ip_network(n, strict=False) for n in networks))

    def check(self, url: str) -> None:
        """Return if ``url`` may be sent to; else raise :class:`RefusedDestinationError`."""
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise RefusedDestinationError(f"{url!r} is not an http(s) URL with a host")
        port = parts.port or (443 if parts.scheme == "https" else 80)
        addresses = [
            ipaddress.ip_address(a.split("%", 1)[0]) for a in self.resolver(parts.hostname, port)
        ]
        if not addresses:
            raise RefusedDestinationError(f"{parts.hostname!r} resolves to no address")
        for address in addresses:
            if not self.permits(address):
                raise RefusedDestinationError(
                    f"{parts.hostname!r} resolves to {address}, which is not a public address; "
                    "an operator may allow its network in HUB_SUBSCRIPTION_ALLOWED_NETWORKS"
                )

    def permits(self, address: IPAddress) -> bool:
        if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
            address = address.ipv4_mapped  # ::ffff:127.0.0.1 is 127.0.0.1
        if any(address in network for network in self.allowed):
            return True
        return address.is_global and not address.is_multicast
