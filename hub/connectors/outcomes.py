"""What mapping an input comes to: :class:`Mapped` or :class:`Refused`, an :data:`Outcome`.

Both connector shapes answer with these — a batch connector for each record of a file
(:func:`translate`), a message connector for the one message a channel hands it
(:func:`hub.connectors.messages.translate_message`) — so the runtime, the channels, the dry
run and the conformance suite read one result whichever kind of connector produced it. Pure:
no I/O.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from pydantic import ValidationError

from hub.connectors.sdk import Connector, ConnectorConfig, Record, RecordError
from hub.events import CaseEvent


@dataclass(frozen=True, slots=True)
class Mapped:
    """A record and the case-events it stands for."""

    record: Record
    events: tuple[CaseEvent, ...]


@dataclass(frozen=True, slots=True)
class Refused:
    """A record the hub does not take, and each (field, message) that says why.

    ``error`` is the :class:`~hub.connectors.sdk.RecordError` the connector raised, where there
    was one: a channel whose answer says more than the issues reads it from there (an HL7 v2
    acknowledgement's code and error codes). Refusals the hub makes itself (a key seen twice
    in one extract, an event too large for the log, a change the sharing policy refused) have
    issues only.
    """

    record: Record
    issues: tuple[tuple[str, str], ...]
    error: RecordError | None = field(default=None, compare=False)

    @classmethod
    def of(cls, record: Record, error: RecordError) -> Refused:
        return cls(record, tuple(error.issues), error)

    def describe(self) -> str:
        return "; ".join(
            f"{self.record.location} {name}: {message}" for name, message in self.issues
        )


Outcome = Mapped | Refused
"""What one record or message comes to: the only name for a mapping's result."""


def translate(
    connector: Connector[Any],
    config: ConnectorConfig,
    records: Iterable[Record],
    recorded_at: datetime,
) -> Iterator[Outcome]:
    """Map each record, turning every failure into a refusal that names its fields."""
    for record in records:
        yield translate_one(connector, config, record, recorded_at)


def translate_one(
    connector: Connector[Any], config: ConnectorConfig, record: Record, recorded_at: datetime
) -> Outcome:
    """One record of :func:`translate`: an extract run maps only the rows its cursor does not
    hold unchanged."""
    try:
        events = connector.map(record, config, recorded_at)
    except RecordError as error:
        return Refused.of(record, error)
    except ValidationError as error:  # an event the contract refuses (e.g. an empty id)
        issues = tuple(
            (".".join(str(part) for part in problem["loc"]), problem["msg"])
            for problem in error.errors()
        )
        return Refused(record, issues)
    return Mapped(record, tuple(events))
