"""Which broker refusals are asked again, and for how long (:mod:`hub.kafka.errors`)."""

from __future__ import annotations

import pytest
from confluent_kafka import KafkaError, KafkaException

from hub.kafka.errors import passing, while_passing


def refusal(code: int) -> KafkaException:
    return KafkaException(KafkaError(code))


def test_a_leader_being_elected_passes_an_unknown_topic_does_not() -> None:
    assert passing(refusal(KafkaError.LEADER_NOT_AVAILABLE))
    assert passing(refusal(KafkaError.NOT_LEADER_FOR_PARTITION))
    assert passing(KafkaException(KafkaError(KafkaError.REQUEST_TIMED_OUT, retriable=True)))
    assert not passing(refusal(KafkaError.UNKNOWN_TOPIC_OR_PART))
    assert not passing(refusal(KafkaError.TOPIC_AUTHORIZATION_FAILED))
    assert not passing(KafkaException("no KafkaError inside"))
    assert not passing(ValueError(KafkaError(KafkaError.LEADER_NOT_AVAILABLE)))


def test_a_passing_refusal_is_asked_again_until_it_is_answered() -> None:
    calls: list[str] = []

    def watermarks(topic: str) -> tuple[int, int]:
        calls.append(topic)
        if len(calls) < 3:
            raise refusal(KafkaError.LEADER_NOT_AVAILABLE)
        return 0, 42

    assert while_passing(10.0)(watermarks, "family") == (0, 42)
    assert calls == ["family"] * 3


def test_a_lasting_refusal_is_raised_at_once_and_a_passing_one_after_the_timeout() -> None:
    calls = 0

    def refused(code: int) -> None:
        nonlocal calls
        calls += 1
        raise refusal(code)

    with pytest.raises(KafkaException) as unknown:
        while_passing(10.0)(refused, KafkaError.UNKNOWN_TOPIC_OR_PART)
    assert (calls, unknown.value.args[0].code()) == (1, KafkaError.UNKNOWN_TOPIC_OR_PART)

    calls = 0
    with pytest.raises(KafkaException) as electing:
        while_passing(0.3)(refused, KafkaError.LEADER_NOT_AVAILABLE)
    assert electing.value.args[0].code() == KafkaError.LEADER_NOT_AVAILABLE
    assert calls > 1  # asked again before giving up
