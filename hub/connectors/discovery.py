"""Which connectors are installed: the ``hub.connectors`` entry-point group.

One group holds both shapes — batch connectors (:class:`hub.connectors.sdk.Connector`) and
message connectors (:class:`hub.connectors.messages.MessageConnector`) — so ``hub connector
list`` shows every connector, its own and another package's, with its kind and channels. The
built-in ones register in ``pyproject.toml`` exactly as a connector shipped as its own package
does. An entry point that names anything else, or a connector under another name, is an error
at once, not a connector quietly missing.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from importlib.metadata import EntryPoint, entry_points
from typing import Any, Final, Literal

from hub.connectors.messages import MessageConnector
from hub.connectors.sdk import Connector

ENTRY_POINT_GROUP: Final = "hub.connectors"

AnyConnector = type[Connector[Any]] | type[MessageConnector[Any, Any]]


@dataclass(frozen=True, slots=True)
class Installed:
    """One installed connector, as ``hub connector list`` shows it."""

    name: str
    kind: Literal["batch", "message"]
    channels: tuple[str, ...]
    summary: str
    package: str


def _entries() -> Iterator[tuple[EntryPoint, AnyConnector]]:
    for entry in entry_points(group=ENTRY_POINT_GROUP):
        connector = entry.load()
        if not (
            isinstance(connector, type) and issubclass(connector, Connector | MessageConnector)
        ):
            raise TypeError(f"entry point {entry.name} = {entry.value} is not a hub connector")
        if connector.name != entry.name:
            raise TypeError(f"entry point {entry.name} names a connector called {connector.name}")
        yield entry, connector


def discover() -> dict[str, type[Connector[Any]]]:
    """Every installed batch connector, by name: those ``hub connector test`` / ``run`` and
    partner feeds take."""
    return {
        entry.name: connector for entry, connector in _entries() if issubclass(connector, Connector)
    }


def discover_messages() -> dict[str, type[MessageConnector[Any, Any]]]:
    """Every installed message connector, by name."""
    return {
        entry.name: connector
        for entry, connector in _entries()
        if issubclass(connector, MessageConnector)
    }


def installed() -> list[Installed]:
    """Every installed connector of either shape, by name."""
    return sorted(
        (
            Installed(
                entry.name,
                "batch" if issubclass(connector, Connector) else "message",
                connector.channels,
                connector.summary,
                entry.dist.name if entry.dist else "?",
            )
            for entry, connector in _entries()
        ),
        key=lambda found: found.name,
    )


def load_connector(name: str) -> Connector[Any]:
    """The batch connector called ``name``; :class:`LookupError` saying what is installed (and,
    for a message connector, which channel feeds it instead)."""
    connectors = discover()
    if name in connectors:
        return connectors[name]()
    messages = discover_messages()
    if name in messages:
        channels = ", ".join(messages[name].channels)
        raise LookupError(
            f"{name!r} is a message connector: its channel ({channels}) feeds it one message at "
            "a time, not a file"
        )
    known = ", ".join(sorted(connectors)) or "none"
    raise LookupError(f"no connector called {name!r} is installed (installed: {known})")
