"""Original-mode acknowledgements: MSA-1 AA / AE / AR, MSA-2 echoing MSH-10, ERR per problem.

ERR carries both the v2.3/2.4 form (ERR-1, ELD: segment^sequence^field^code&text&HL70357) and
the v2.5 form (ERR-2 location, ERR-3 HL7 error code, ERR-4 severity, ERR-8 user message), so
an interface engine of either generation can read where the problem is.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Final

import hl7

from hub.connectors.hl7v2.reading import Hl7Problem, value
from hub.events import deterministic_event_id

HUB_APPLICATION: Final = "THINK-FAMILY-HUB"
HUB_FACILITY: Final = "HUB"
DEFAULT_SEPARATORS: Final = "|^~\\&"

ERROR_TEXT: Final = {
    100: "Segment sequence error",
    101: "Required field missing",
    102: "Data type error",
    103: "Table value not found",
    200: "Unsupported message type",
    201: "Unsupported event code",
    203: "Unsupported version id",
    204: "Unknown key identifier",
    207: "Application internal error",
}


def _ack_control_id(original: str, code: str) -> str:
    """Deterministic, so a re-sent message gets the same acknowledgement id."""
    return "ACK" + deterministic_event_id("hl7v2-ack", original, code).hex[:17].upper()


def _escape(text: str, field: str, component: str, repetition: str, escape: str, sub: str) -> str:
    """HL7 escape sequences for free text placed in a field."""
    return (
        text.replace(escape, f"{escape}E{escape}")
        .replace(field, f"{escape}F{escape}")
        .replace(component, f"{escape}S{escape}")
        .replace(repetition, f"{escape}R{escape}")
        .replace(sub, f"{escape}T{escape}")
        .replace("\r", " ")
        .replace("\n", " ")
    )


def build_ack(message: hl7.Message | None, code: str, problems: Sequence[Hl7Problem]) -> str:
    """The ACK for ``message`` (or, if it could not be parsed, a bare one) as text."""
    lines: list[str] | None = None
    separators = DEFAULT_SEPARATORS
    if message is not None:
        try:  # python-hl7's builder; a degenerate MSH makes it raise, so fall back below
            msh = message.segment("MSH")
            # MSH-1 and MSH-2 as sent, without joining the whole segment to slice them out.
            separators = (str(msh[1]) + str(msh[2]))[:5]
            ack = message.create_ack(
                code, _ack_control_id(value(msh, 10), code), HUB_APPLICATION, HUB_FACILITY
            )
            lines = [text for text in map(str, ack) if text]
        except (IndexError, KeyError, ValueError, TypeError):
            lines = None
    if lines is None:
        original = value(message.segment("MSH"), 10) if message is not None else ""
        now = datetime.now(UTC).strftime("%Y%m%d%H%M%S")
        separators = DEFAULT_SEPARATORS
        lines = [
            f"MSH|^~\\&|{HUB_APPLICATION}|{HUB_FACILITY}|||{now}||ACK|"
            f"{_ack_control_id(original, code)}|P|2.4",
            "MSA|" + code + "|" + _escape(original, "|", "^", "~", "\\", "&"),
        ]
    field, component, repetition, escape, sub = (c for c in (separators + "^~\\&")[:5])
    if problems:
        first = _escape(problems[0].message, field, component, repetition, escape, sub)
        lines[1] = f"{lines[1]}{field}{first}"  # MSA-3 text (deprecated, still read widely)
    for problem in problems:
        text = ERROR_TEXT.get(problem.code, "Error")
        where = component.join([problem.segment, "1", str(problem.field or "")])
        if problem.component:
            where += f"{component}{component}{problem.component}"
        eld = component.join(
            [
                problem.segment,
                "1",
                str(problem.field or ""),
                sub.join([str(problem.code), text, "HL70357"]),
            ]
        )
        user = _escape(problem.message, field, component, repetition, escape, sub)
        lines.append(
            field.join(
                [
                    "ERR",
                    eld,
                    where,
                    component.join([str(problem.code), text, "HL70357"]),
                    "E",
                    "",
                    "",
                    "",
                    user,
                ]
            )
        )
    return "\r".join(lines) + "\r"
