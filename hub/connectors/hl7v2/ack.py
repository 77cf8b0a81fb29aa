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


# The ACK python-hl7's ``create_ack`` builds, by what it copies from the message's MSH: its
# separators (MSH-1, MSH-2), sending application and facility (MSH-3, MSH-4, answered to),
# trigger event (MSH-9.2), processing id (MSH-11) and version (MSH-12); and the code. Every
# other field of it is the hub's, save MSH-7 (the time), MSH-10 (the ACK's id) and MSA-2 (the
# message's control id), which each message sets in a copy. One sending system's messages
# share one template: create_ack runs once per kind instead of once per message.
_TemplateKey = tuple[str, ...]
_TEMPLATES: dict[_TemplateKey, hl7.Message] = {}
_MAX_TEMPLATES: Final = 1024  # senders varying MSH-3/4 cannot grow it without bound


def _template_key(msh: hl7.Segment, code: str) -> _TemplateKey:
    """Exactly what create_ack reads of the message (with application and facility given)."""
    return (
        str(msh(1)),
        str(msh(2)),
        str(msh(3)),
        str(msh(4)),
        str(msh(9)(1)(2)),
        str(msh(11)),
        str(msh(12)),
        code,
    )


def _from_template(message: hl7.Message, msh: hl7.Segment, code: str, stamp: str) -> list[str]:
    """The segments of ``message.create_ack(code, ...)`` sent at ``stamp``, as text, from its
    kind's template: the template's MSH and MSA copied (python-hl7's segments sliced), MSH-7,
    MSH-10 and MSA-2 replaced by fields of their own — the template itself is never changed,
    so copies on any thread share it safely. Raises as create_ack does for a degenerate MSH."""
    key = _template_key(msh, code)
    template = _TEMPLATES.get(key)
    if template is None:
        template = message.create_ack(code, "", HUB_APPLICATION, HUB_FACILITY)
        if len(_TEMPLATES) >= _MAX_TEMPLATES:
            _TEMPLATES.clear()
        _TEMPLATES[key] = template
    head, answer = template[0][:], template[1][:]
    head[7] = head.create_field([stamp])
    head[10] = head.create_field([_ack_control_id(value(msh, 10), code)])
    answer[2] = answer.create_field([str(msh(10))])
    return [text for text in (str(head), str(answer)) if text]


def build_ack(
    message: hl7.Message | None,
    code: str,
    problems: Sequence[Hl7Problem],
    *,
    at: datetime | None = None,
) -> str:
    """The ACK for ``message`` (or, if it could not be parsed, a bare one) as text, sent
    ``at`` (now if not given: MSH-7)."""
    stamp = (at or datetime.now(UTC)).strftime("%Y%m%d%H%M%S")
    lines: list[str] | None = None
    separators = DEFAULT_SEPARATORS
    if message is not None:
        try:  # python-hl7's builder; a degenerate MSH makes it raise, so fall back below
            msh = message.segment("MSH")
            # MSH-1 and MSH-2 as sent, without joining the whole segment to slice them out.
            separators = (str(msh[1]) + str(msh[2]))[:5]
            lines = _from_template(message, msh, code, stamp)
        except (IndexError, KeyError, ValueError, TypeError):
            lines = None
    if lines is None:
        original = value(message.segment("MSH"), 10) if message is not None else ""
        separators = DEFAULT_SEPARATORS
        lines = [
            f"MSH|^~\\&|{HUB_APPLICATION}|{HUB_FACILITY}|||{stamp}||ACK|"
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
