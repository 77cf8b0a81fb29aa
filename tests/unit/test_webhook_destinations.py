"""Webhook destinations: public addresses, and private ones only where allowed (SSRF, ADR 0016)."""

from __future__ import annotations

import ipaddress

import pytest

from hub.subscriptions.destinations import Destinations, RefusedDestinationError, pinned

# What the fake resolver answers: a host name -> its addresses; an IP literal answers itself.
DNS = {
    "partner.example": ["93.184.216.34", "8.8.8.8"],
    "rebound.example": ["8.8.8.8", "10.0.0.5"],  # one private answer is enough to refuse
    "hscn.example": ["10.20.1.1"],
    "nat64.example": ["64:ff9b::a9fe:a9fe"],
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
        # IPv6 spellings of IPv4 addresses a gateway or the host's stack reaches (issue 17).
        ("http://[::7f00:1]/hook", "IPv4-compatible loopback"),
        ("http://[::127.0.0.1]/hook", "IPv4-compatible loopback, dotted"),
        ("http://[::a00:5]/hook", "IPv4-compatible private"),
        ("http://[::]/hook", "unspecified"),
        ("http://[::ffff:0:7f00:1]/hook", "IPv4-translated loopback"),
        ("http://[::ffff:0:a9fe:a9fe]/hook", "IPv4-translated metadata"),
        ("http://[::ffff:a9fe:a9fe]/hook", "IPv4-mapped metadata"),
        ("http://[::ffff:10.0.0.1]/hook", "IPv4-mapped private"),
        ("http://[64:ff9b::7f00:1]/hook", "NAT64 loopback"),
        ("http://[64:ff9b::a9fe:a9fe]/latest/meta-data", "NAT64 cloud metadata"),
        ("http://[64:ff9b::c0a8:101]/hook", "NAT64 private"),
        ("http://[64:ff9b:1::a9fe:a9fe]/hook", "local-use NAT64"),
        ("http://[64:ff9b:1:fffe::808:808]/hook", "local-use NAT64, any embedding"),
        ("http://[2002:7f00:1::1]/hook", "6to4 loopback"),
        ("http://[2002:a9fe:a9fe::]/hook", "6to4 metadata"),
        ("http://[2002:ac10:1::1]/hook", "6to4 private"),
        ("http://nat64.example/hook", "a name resolving to NAT64 metadata"),
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
    "url",
    [
        "https://partner.example/hook",
        "http://8.8.8.8:8080/x",
        "https://[2001:4860::8888]/",
        "https://[64:ff9b::808:808]/",  # NAT64 to a public address
        "https://[2002:808:808::1]/",  # 6to4 from a public address
    ],
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


def test_an_allowed_network_is_allowed_in_its_ipv6_spellings_too() -> None:
    HSCN.check("http://[::ffff:10.20.9.9]/hook")
    HSCN.check("http://[64:ff9b::a14:909]/hook")


@pytest.mark.parametrize(
    ("url", "address", "sent_to", "host", "sni"),
    [
        (
            "https://partner.example/hook",
            "93.184.216.34",
            "https://93.184.216.34/hook",
            "partner.example",
            "partner.example",
        ),
        (
            "http://partner.example:8080/a?b=c",
            "8.8.8.8",
            "http://8.8.8.8:8080/a?b=c",
            "partner.example:8080",
            None,
        ),
        (
            "https://u:p@v6.example:8443/h",
            "2001:4860::8888",
            "https://u:p@[2001:4860::8888]:8443/h",
            "v6.example:8443",
            "v6.example",
        ),
    ],
)
def test_the_request_goes_to_the_checked_address_with_the_original_host(
    url: str, address: str, sent_to: str, host: str, sni: str | None
) -> None:
    target = pinned(url, ipaddress.ip_address(address))
    assert target.url == sent_to
    assert target.headers == {"Host": host}
    assert target.extensions.get("sni_hostname") == sni


def test_the_checked_address_is_the_one_returned() -> None:
    assert str(PUBLIC_ONLY.check("https://partner.example/hook")) == "93.184.216.34"
