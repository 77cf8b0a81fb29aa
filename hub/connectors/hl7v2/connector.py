"""The HL7 v2 connector: ADT and SIU messages on the SDK's message shape.

:meth:`Hl7v2Connector.read` parses one MLLP block (:mod:`hub.connectors.hl7v2.reading`: the
character set, any segment ending); :meth:`Hl7v2Connector.map` is
:func:`hub.connectors.hl7v2.mapping.message_events`. Both refuse with
:class:`~hub.connectors.hl7v2.mapping.Hl7RecordError`, which carries what the acknowledgement says
(``AR`` / ``AE`` and each ERR). The context is the source files
(:class:`~hub.connectors.sources.SourceRegistry`): a message names its sender by MSH-4, and
the file of that sending facility says whose it is and what its codes mean.

The MLLP listener (:mod:`hub.connectors.hl7v2.listener`) is its channel;
:func:`acknowledgement` is what that channel answers for an outcome.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Final

import hl7

from hub.connectors.hl7v2.mapping import (
    DATA_TYPE_ERROR,
    SEGMENT_SEQUENCE_ERROR,
    TRIGGERS,
    Hl7RecordError,
    message_events,
)
from hub.connectors.hl7v2.reading import Hl7Problem, Hl7ReadError, parse
from hub.connectors.messages import MessageConnector
from hub.connectors.outcomes import Mapped, Outcome, Refused
from hub.connectors.sources import SourceRegistry
from hub.events import CaseEvent


def _triggers(kind: str) -> str:
    return " ".join(trigger for k, trigger in TRIGGERS if k == kind)


class Hl7v2Connector(MessageConnector[hl7.Message, SourceRegistry]):
    name = "hl7v2"
    summary = (
        f"HL7 v2 ADT ({_triggers('ADT')}) and SIU ({_triggers('SIU')}): people, merges, "
        "appointments and the team a message names"
    )
    channels = ("mllp",)

    def read(self, raw: bytes) -> hl7.Message:
        try:
            return parse(raw)
        except Hl7ReadError as error:
            problem = Hl7Problem("MSH", 0, str(error), SEGMENT_SEQUENCE_ERROR)
            raise Hl7RecordError("AR", (problem,), unreadable=True) from None

    def map(
        self, message: hl7.Message, context: SourceRegistry, recorded_at: datetime
    ) -> Sequence[CaseEvent]:
        return message_events(message, context, recorded_at)


HL7V2: Final = Hl7v2Connector()


def hl7_refusal(refused: Refused) -> Hl7RecordError:
    """A refusal as HL7 v2 reports it. Every refusal of the HL7 v2 connector is an
    :class:`Hl7RecordError`; any other (issues only) is answered ``AE``, each issue a data type
    error at the location it names."""
    if isinstance(refused.error, Hl7RecordError):
        return refused.error
    return Hl7RecordError(
        "AE", [Hl7Problem(field, 0, message, DATA_TYPE_ERROR) for field, message in refused.issues]
    )


def acknowledgement(outcome: Outcome) -> tuple[str, tuple[Hl7Problem, ...]]:
    """MSA-1 and the ERR problems for an outcome: ``AA`` and none for a mapped message."""
    if isinstance(outcome, Mapped):
        return "AA", ()
    refusal = hl7_refusal(outcome)
    return refusal.code, refusal.problems
