"""Acknowledgements and the receive path, called directly; plus fuzzing of both."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import hl7
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hub.connectors.hl7v2.ack import HUB_APPLICATION, HUB_FACILITY, _ack_control_id, build_ack
from hub.connectors.hl7v2.connector import acknowledgement
from hub.connectors.hl7v2.listener import receive
from hub.connectors.hl7v2.reading import Hl7Problem, Hl7ReadError, parse, value
from hub.connectors.outcomes import Mapped, Refused
from tests.support.golden import GOLDEN_SOURCES

GOLDEN = Path(__file__).resolve().parents[1] / "golden" / "hl7v2"
SOURCES = GOLDEN_SOURCES


def _ack_for(name: str) -> hl7.Message:
    raw = (GOLDEN / f"{name}.input.hl7").read_bytes()
    received = receive(raw, SOURCES)
    code, problems = acknowledgement(received.outcome)
    return hl7.parse(build_ack(received.message, code, problems))


def test_aa_echoes_the_control_id() -> None:
    ack = _ack_for("siu-s26-noshow-start-in-ais")
    assert str(ack.segment("MSH")(9)) == "ACK^S26^ACK"
    assert str(ack.segment("MSA")(1)) == "AA"
    assert str(ack.segment("MSA")(2)) == "MFT0006"
    assert str(ack.segment("MSH")(5)) == "MATPAS"  # back to the sender
    assert not [s for s in ack if str(s(0)) == "ERR"]


def test_ae_names_segment_field_and_error_code() -> None:
    ack = _ack_for("error-invalid-nhs-number")
    assert str(ack.segment("MSA")(1)) == "AE"
    assert str(ack.segment("MSA")(2)) == "MFT0202"
    err = ack.segment("ERR")
    assert str(err(2)) == "PID^1^3"
    assert str(err(3)(1)(1)) == "102"
    assert "not a valid NHS number" in ack.unescape(str(err(8)))


def test_ar_for_an_unsupported_version_and_for_bytes_that_are_not_hl7() -> None:
    assert str(_ack_for("public-SIU-S26-01").segment("MSA")(1)) == "AR"
    ack = _ack_for("error-not-hl7")
    assert str(ack.segment("MSA")(1)) == "AR"
    assert "does not start with an MSH" in ack.unescape(str(ack.segment("ERR")(8)))


def test_non_default_separators_are_used_in_the_ack() -> None:
    text = build_ack(
        receive((GOLDEN / "non-default-separators.input.hl7").read_bytes(), SOURCES).message,
        "AE",
        [Hl7Problem("PID", 3, "bad ^ | & ~ \\ text", 101)],
    )
    assert text.startswith("MSH#@~\\$#")
    ack = hl7.parse(text)
    assert ack.unescape(str(ack.segment("ERR")(8))) == "bad ^ | & ~ \\ text"


def test_a_resent_message_gets_the_same_ack_control_id() -> None:
    first, again = _ack_for("siu-s12-booked"), _ack_for("siu-s12-booked")
    assert str(first.segment("MSH")(10)) == str(again.segment("MSH")(10))


def _created_ack(message: hl7.Message, code: str, at: datetime) -> str:
    """The ACK as python-hl7's ``create_ack`` makes it for this one message, sent ``at``: what
    the hub answered before it kept one template per kind of message."""
    control_id = value(message.segment("MSH"), 10)
    ack = message.create_ack(code, _ack_control_id(control_id, code), HUB_APPLICATION, HUB_FACILITY)
    ack.segment("MSH").assign_field(at.strftime("%Y%m%d%H%M%S"), 7)
    return "\r".join(text for text in map(str, ack) if text) + "\r"


def _kinds_of_message() -> list[bytes]:
    """Every golden message python-hl7 parses, and two more of its kind (other control ids)."""
    found = []
    for case in sorted(GOLDEN.glob("*.input.hl7")):
        raw = case.read_bytes()
        try:
            control_id = value(parse(raw).segment("MSH"), 10)
        except Hl7ReadError:
            continue
        found.append(raw)
        for n in range(2) if control_id else ():
            found.append(raw.replace(f"|{control_id}|".encode(), f"|T{n}{control_id}|".encode()))
    return found


def test_the_ack_from_a_template_is_python_hl7s_create_ack_for_every_golden_message() -> None:
    """Every message, and others of its kind answered in between (sharing its template with
    other control ids and times), twice over: each gets exactly create_ack's ACK of its own,
    whatever was answered before it."""
    at = datetime(2026, 3, 2, 12, 0, 5, tzinfo=UTC)
    answered = 0
    for round_ in range(2):
        for n, raw in enumerate(_kinds_of_message()):
            for code in ("AA", "AE", "AR"):
                message = parse(raw)
                when = at + timedelta(seconds=n + round_)
                try:
                    expected = _created_ack(message, code, when)
                except (IndexError, KeyError, ValueError, TypeError):  # the bare ACK then
                    assert build_ack(message, code, (), at=when).startswith(
                        f"MSH|^~\\&|{HUB_APPLICATION}|"
                    )
                    continue
                assert build_ack(message, code, (), at=when) == expected
                answered += 1
    assert answered > 100  # the goldens' messages, not a vacuous loop


hl7ish = st.one_of(
    st.binary(max_size=400),
    st.lists(
        st.sampled_from(
            [
                b"MSH|^~\\&|MATPAS|MFT|HUB|HUB|20260302||SIU^S26|X1|P|2.4",
                b"PID|1||9434765919^^^NHS^NH",
                b"SCH|1|2|||||||||^^^20260302",
                b"MSH|",
                b"|",
                b"^",
                b"\\",
                b"~",
                b"\r",
                b"\n",
                b"\xff",
                b"AIS|1||X|2026",
                b"MRG|",
                b"EVN|A01|notatime",
                b"ADT^A40",
                b"2.5.1",
            ]
        ),
        max_size=12,
    ).map(b"".join),
)


@settings(max_examples=1500, suppress_health_check=[HealthCheck.too_slow])
@given(hl7ish)
def test_any_bytes_get_an_outcome_and_a_parseable_ack(raw: bytes) -> None:
    received = receive(raw, SOURCES)
    outcome = received.outcome
    assert isinstance(outcome, Mapped | Refused)
    code, problems = acknowledgement(outcome)
    if isinstance(outcome, Refused):
        assert problems
    ack = hl7.parse(build_ack(received.message, code, problems))
    assert str(ack.segment("MSA")(1)) == code
