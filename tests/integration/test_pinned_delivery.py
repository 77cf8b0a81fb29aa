"""A webhook goes to the address that was checked, not to a second DNS answer (rebinding).

A real receiver on 127.0.0.1 and a host name no resolver knows: the delivery reaches the
receiver only because it connects to the checked address, and the receiver sees the URL's
host as ``Host``. A resolver that answers a public address for the check and 127.0.0.1 after
(the rebinding attack) cannot move the request: it is sent where the check looked.
"""

from __future__ import annotations

import asyncio
from urllib.parse import urlsplit

import httpx

from hub.subscriptions.destinations import Destinations, pinned
from tests.support.receiver import webhook_receiver


def _post(url: str, destinations: Destinations) -> httpx.Response:
    async def send() -> httpx.Response:
        target = pinned(url, destinations.check(url))
        async with httpx.AsyncClient(timeout=10) as http:
            return await http.post(
                target.url, content="{}", headers=target.headers, extensions=target.extensions
            )

    return asyncio.run(send())


def test_the_request_goes_to_the_checked_address_with_the_urls_host() -> None:
    with webhook_receiver() as receiver:
        port = urlsplit(receiver.url).port
        url = f"http://hooks.invalid:{port}/hooks/alerts"  # .invalid never resolves (RFC 6761)
        allowed = Destinations.of(["127.0.0.0/8"])
        answers = Destinations(allowed.allowed, resolver=lambda host, port: ["127.0.0.1"])
        assert _post(url, answers).status_code == 200
        [received] = receiver.received
        assert received.headers["host"] == f"hooks.invalid:{port}"


def test_a_rebinding_resolver_cannot_move_the_request() -> None:
    answers = iter([["8.8.8.8"], ["127.0.0.1"]])  # public for the check, loopback after
    rebinding = Destinations(resolver=lambda host, port: next(answers))
    target = pinned("http://rebind.invalid/hook", rebinding.check("http://rebind.invalid/hook"))
    assert urlsplit(target.url).hostname == "8.8.8.8"
    assert target.headers == {"Host": "rebind.invalid"}
