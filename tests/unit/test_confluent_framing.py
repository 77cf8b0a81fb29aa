"""The Confluent wire format, through confluent-kafka's serializers.

No schema registry runs on this machine (Confluent's is not on Maven Central), so this uses
confluent-kafka's own in-memory registry (``mock://`` URLs), which its test-suite uses too.
What it proves is our side: the framing bytes and the round trip. A test against a real
registry is listed as follow-up work in the README.
"""

from __future__ import annotations

import struct

import pytest
from hypothesis import given, settings

from hub.events import CaseEvent
from hub.kafka.codec import DecodeError, ModelCodec, case_event_codec
from tests.strategies import case_events


def _codec() -> ModelCodec[CaseEvent]:
    return case_event_codec("confluent-test", "mock://hub-tests")


@settings(max_examples=50)
@given(case_events())
def test_events_round_trip_in_the_confluent_wire_format(event: CaseEvent) -> None:
    encoded = _codec().encode(event)
    assert encoded[0] == 0
    (schema_id,) = struct.unpack(">I", encoded[1:5])
    assert schema_id >= 1
    assert _codec().decode(encoded) == event


def test_single_object_bytes_are_refused_by_the_confluent_codec() -> None:
    single_object = case_event_codec("confluent-test").encode(_sample())
    with pytest.raises(DecodeError, match="not Confluent wire format"):
        _codec().decode(single_object)


def _sample() -> CaseEvent:
    from tests.builders import missed

    return missed()
