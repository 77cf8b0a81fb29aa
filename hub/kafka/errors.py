"""Which of the broker's refusals pass by themselves, and asking again while they last."""

from __future__ import annotations

from typing import Final

from confluent_kafka import KafkaError, KafkaException
from tenacity import Retrying, retry_if_exception, stop_after_delay, wait_exponential

# librdkafka does not mark these retriable, yet they last only while a partition's leader is
# elected or moves: a topic just created, a broker just restarted.
_ELECTING: Final = frozenset({KafkaError.NOT_LEADER_FOR_PARTITION, KafkaError.LEADER_NOT_AVAILABLE})


def passing(error: BaseException) -> bool:
    """Whether ``error`` is a refusal the broker's next answer may not repeat: librdkafka calls
    it retriable, or a partition has no leader yet. Anything else (an unknown topic, a refused
    login, a broker that cannot be reached within the timeout) is worth no second request."""
    cause = error.args[0] if isinstance(error, KafkaException) and error.args else None
    return isinstance(cause, KafkaError) and (cause.retriable() or cause.code() in _ELECTING)


def while_passing(timeout_s: float) -> Retrying:
    """Calls asked again, a little later each time, while they fail with a :func:`passing`
    refusal and ``timeout_s`` has not passed since the first; then the last refusal is raised."""
    return Retrying(
        retry=retry_if_exception(passing),
        wait=wait_exponential(multiplier=0.1, max=1),
        stop=stop_after_delay(timeout_s),
        reraise=True,
    )
