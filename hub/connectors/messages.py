"""Message connectors: the SDK's message-at-a-time shape, for channels that answer each input.

A batch connector (:class:`hub.connectors.sdk.Connector`) reads a file into records and the
runtime owns cursors and batches. A message connector is handed one input by its channel — an
MLLP block, an HTTP body — and the channel answers the sender at once with what became of it
(an HL7 v2 acknowledgement, a FHIR OperationOutcome), so there is no file, cursor or batch.
The two pure steps are the same:

* :meth:`MessageConnector.read` turns the bytes into the message (a parsed HL7 v2 message, a
  validated FHIR resource), raising :class:`~hub.connectors.sdk.RecordError` with
  ``unreadable=True`` for bytes that are not the format at all;
* :meth:`MessageConnector.map` turns the message into case-events, raising
  :class:`~hub.connectors.sdk.RecordError` naming each bad field;

and the result is the same :data:`~hub.connectors.outcomes.Outcome`. ``context`` is what the
channel knows of the sender that the message does not say: for HL7 v2 the source files, by
sending facility; for FHIR the authenticated client's organisation and its practitioner roles.

The built-in message connectors are HL7 v2 (:mod:`hub.connectors.hl7v2.connector`, fed by the
MLLP listener) and one per FHIR resource type (:mod:`hub.connectors.fhir`, fed by ``/fhir``).
:class:`hub.connectors.conformance.MessageConnectorConformance` is their conformance suite.
"""

from __future__ import annotations

import hashlib
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import ClassVar, Generic, TypeVar

from hub.connectors.outcomes import Mapped, Outcome, Refused
from hub.connectors.sdk import Record, RecordError
from hub.events import CaseEvent

MessageT = TypeVar("MessageT")
ContextT = TypeVar("ContextT")


class MessageConnector(ABC, Generic[MessageT, ContextT]):
    """Subclass this, set the class attributes, implement :meth:`read` and :meth:`map`."""

    name: ClassVar[str]
    summary: ClassVar[str]
    # The channels that feed it, as ``hub connector list`` shows them and quarantine records
    # name them: ``mllp`` (``hub mllp``), ``fhir-rest`` (``/fhir``).
    channels: ClassVar[tuple[str, ...]]

    @abstractmethod
    def read(self, raw: bytes) -> MessageT:
        """The message ``raw`` holds; :class:`RecordError` (``unreadable=True`` if it is not the
        format at all) naming what is wrong."""

    @abstractmethod
    def map(
        self, message: MessageT, context: ContextT, recorded_at: datetime
    ) -> Sequence[CaseEvent]:
        """The case-events one message means, in the order they are to be published; raise
        :class:`RecordError` naming each bad field.

        ``recorded_at`` is when the hub received it (the channel passes it, so mapping stays a
        pure function of its arguments).
        """


@dataclass(frozen=True, slots=True)
class Received(Generic[MessageT]):
    """One input as read (``None`` when it could not be) and its outcome: what a channel
    answers from (an HL7 v2 acknowledgement echoes the message it acknowledges)."""

    message: MessageT | None
    outcome: Outcome


def message_record(raw: bytes, location: str) -> Record:
    """A message as a :class:`Record`: where it came from and its bytes. Its key is the digest
    of its content (the same bytes re-sent are the same record); it has no fields, because its
    connector's :meth:`~MessageConnector.read` reads it."""
    return Record(location, hashlib.sha256(raw).hexdigest(), raw, {})


def read_message(
    connector: MessageConnector[MessageT, ContextT], record: Record
) -> MessageT | Refused:
    """The record's message, or its refusal."""
    try:
        return connector.read(record.raw)
    except RecordError as error:
        return Refused.of(record, error)


def map_message(
    connector: MessageConnector[MessageT, ContextT],
    record: Record,
    message: MessageT,
    context: ContextT,
    recorded_at: datetime,
) -> Outcome:
    """What a message that was read comes to. Only :class:`RecordError` is a refusal: any other
    exception is a bug in the mapping, and the channel decides how to answer it."""
    try:
        return Mapped(record, tuple(connector.map(message, context, recorded_at)))
    except RecordError as error:
        return Refused.of(record, error)


def translate_message(
    connector: MessageConnector[MessageT, ContextT],
    raw: bytes,
    context: ContextT,
    recorded_at: datetime,
    *,
    location: str,
) -> Received[MessageT]:
    """Read and map one input: the message connector's counterpart of
    :func:`hub.connectors.outcomes.translate`."""
    record = message_record(raw, location)
    message = read_message(connector, record)
    if isinstance(message, Refused):
        return Received(None, message)
    return Received(message, map_message(connector, record, message, context, recorded_at))
