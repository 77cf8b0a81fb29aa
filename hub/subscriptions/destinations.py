"""Where the hub may send webhooks: the public internet, and only the private networks an
operator names (protection against server-side request forgery).

A subscriber chooses the URL, so without a check any authenticated client could make the worker
POST to the hub's own network — the PostgreSQL host, a cloud metadata endpoint
(169.254.169.254), an admin port on 127.0.0.1 — and read success or failure back from the
dead-letter list. Every address the URL's host resolves to must be globally routable, or inside
a network of ``HUB_SUBSCRIPTION_ALLOWED_NETWORKS`` (e.g. a partner reached over HSCN on
10.0.0.0/8; the tests' receivers on 127.0.0.0/8). The check runs when the subscription is made
(422) and again before every attempt, since DNS answers change (ADR 0016).

An IPv6 address can carry an IPv4 one that a gateway or the host's own stack reaches: IPv4-mapped
(``::ffff:127.0.0.1``), IPv4-translated (``::ffff:0:7f00:1``), IPv4-compatible (``::7f00:1``),
NAT64 (``64:ff9b::a9fe:a9fe`` is 169.254.169.254) and 6to4 (``2002:7f00:1::1``). Python calls
most of these global, so the embedded IPv4 address is what is judged (:func:`embedded_ipv4`);
the local-use NAT64 prefix 64:ff9b:1::/48, whose embedding the operator chooses, is refused.

The check returns the address it judged and the delivery connects to that address
(:func:`pinned`), with the URL's host as ``Host`` and TLS server name: a second DNS answer
(rebinding to 127.0.0.1 between the check and the connection) is never used.
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
_V6 = ipaddress.IPv6Network
TRANSLATED = _V6("::ffff:0:0:0/96")  # IPv4-translated (RFC 2765)
COMPATIBLE = _V6("::/96")  # IPv4-compatible (deprecated, RFC 4291)
NAT64 = _V6("64:ff9b::/96")  # well-known NAT64 prefix (RFC 6052)
NAT64_LOCAL = _V6("64:ff9b:1::/48")  # local-use NAT64 (RFC 8215): the embedding is the site's
REFUSED_ALWAYS = (NAT64_LOCAL,)


def embedded_ipv4(address: IPAddress) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 address stands for, if it is one of the embedding forms."""
    if isinstance(address, ipaddress.IPv4Address):
        return None
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address.sixtofour is not None:
        return address.sixtofour
    if any(address in network for network in (TRANSLATED, COMPATIBLE, NAT64)):
        return ipaddress.IPv4Address(int(address) & 0xFFFF_FFFF)
    return None


@dataclass(frozen=True)
class Pinned:
    """A request to the checked address: the URL with the address as its host, the original
    host as ``Host`` and (for https) as the TLS server name httpx checks the certificate for."""

    url: str
    headers: dict[str, str]
    extensions: dict[str, str]


def pinned(url: str, address: IPAddress) -> Pinned:
    """``url`` sent to ``address`` instead of whatever its host resolves to next."""
    parts = urlsplit(url)
    assert parts.hostname is not None
    literal = f"[{address}]" if address.version == 6 else str(address)
    netloc = literal if parts.port is None else f"{literal}:{parts.port}"
    userinfo, _, host = parts.netloc.rpartition("@")  # Host as the URL wrote it, port included
    if userinfo:
        netloc = f"{userinfo}@{netloc}"
    extensions = {"sni_hostname": parts.hostname} if parts.scheme == "https" else {}
    return Pinned(parts._replace(netloc=netloc).geturl(), {"Host": host}, extensions)


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

    def check(self, url: str) -> IPAddress:
        """The address to send ``url`` to, if every address its host resolves to may be sent
        to; else raise :class:`RefusedDestinationError`."""
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
        return addresses[0]

    def permits(self, address: IPAddress) -> bool:
        if any(address in network for network in REFUSED_ALWAYS):
            return False
        embedded = embedded_ipv4(address)
        if embedded is not None:
            return self.permits(embedded)  # ::ffff:127.0.0.1 and 64:ff9b::7f00:1 are 127.0.0.1
        if any(address in network for network in self.allowed):
            return True
        return address.is_global and not address.is_multicast
