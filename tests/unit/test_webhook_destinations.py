"""Webhook destinations: public addresses, and private ones only where allowed (SSRF, ADR 0016)."""

from __future__ import annotations

import pytest

from hub.subscriptions.destinations import Destinations, RefusedDestinationError

# What the fake resolver answers: a host name -> its addresses; an IP literal answers itself.
DNS = {
    "partner.example": ["93.184.216.34", "8.8.8.8"],
    "rebound.example": ["8.8.8.8", "10.0.0.5"],  # one private answer is enough to refuse
    "hscn.example": ["10.20.1.1"],
}


def resolver(host: str, port: int) -> list[str]:
    if host in DNS:
        return DNS[host]
    if host == "nowhere.example":
        raise RefusedDestinationError("'nowhere.example' does not resolve")
    return [host]


PUBLIC_ONLY = Destinations(resolver=resolver)
HSCN = Destinations(Destinations.of(["10.20.0.0/16"]).allowed, resolver=resolver)


@pytest.mark.parametrize(
    ("url", "why"),
    [
        ("http://127.0.0.1:9/hook", "loopback"),
        ("http://[::1]/hook", "IPv6 loopback"),
        ("http://[::ffff:127.0.0.1]/hook", "IPv4-mapped loopback"),
        ("http://0.0.0.0/hook", "this host"),
        ("http://10.1.2.3/hook", "private"),
        ("http://192.168.1.1/hook", "private"),
        ("http://172.16.0.1/hook", "private"),
        ("http://169.254.169.254/latest/meta-data", "link-local: cloud metadata"),
        ("http://100.64.0.1/hook", "carrier-grade NAT"),
        ("http://224.0.0.1/hook", "multicast"),
        ("http://203.0.113.10/hook", "documentation range"),
        ("http://[fd00::1]/hook", "IPv6 unique local"),
        ("http://rebound.example/hook", "one of its addresses is private"),
        ("http://nowhere.example/hook", "does not resolve"),
        ("ftp://partner.example/hook", "not http(s)"),
        ("http:///hook", "no host"),
    ],
)
def test_refused(url: str, why: str) -> None:
    with pytest.raises(RefusedDestinationError) as refused:
        PUBLIC_ONLY.check(url)
    assert str(refused.value), why


@pytest.mark.parametrize(
    "url", ["https://partner.example/hook", "http://8.8.8.8:8080/x", "https://[2001:4860::8888]/"]
)
def test_public_addresses_are_allowed(url: str) -> None:
    PUBLIC_ONLY.check(url)


def test_an_allowed_network_and_only_it() -> None:
    HSCN.check("https://hscn.example/hook")
    HSCN.check("http://10.20.9.9/hook")
    with pytest.raises(RefusedDestinationError, match="HUB_SUBSCRIPTION_ALLOWED_NETWORKS"):
        HSCN.check("http://10.21.0.1/hook")


def test_localhost_through_the_system_resolver_is_refused() -> None:
    with pytest.raises(RefusedDestinationError, match="not a public address"):
        Destinations().check("http://localhost:8000/hook")
    Destinations.of(["127.0.0.0/8", "::1/128"]).check("http://localhost:8000/hook")
