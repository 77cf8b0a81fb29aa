"""Which Kafka the tests run against: given, testcontainers, or a broker of our own."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from hub.kafka.local import kafka_version, temporary_broker


@contextmanager
def kafka_cluster(cache_dir: Path, work_dir: Path) -> Iterator[str]:
    """Bootstrap servers of a real cluster for the test session.

    ``KAFKA_BOOTSTRAP_SERVERS`` set: that cluster. ``HUB_TEST_KAFKA=testcontainers``: Kafka in
    Docker through testcontainers (needs a Docker engine). Otherwise: a local KRaft broker from
    the Maven-fetched jars (``hub.kafka.local``).
    """
    given = os.environ.get("KAFKA_BOOTSTRAP_SERVERS")
    if given:
        yield given
        return
    if os.environ.get("HUB_TEST_KAFKA") == "testcontainers":
        from testcontainers.kafka import KafkaContainer

        try:
            container = KafkaContainer(f"apache/kafka:{kafka_version()}").with_kraft()
            container.start()
        except Exception as error:  # docker.errors.DockerException and friends
            raise RuntimeError(
                f"HUB_TEST_KAFKA=testcontainers but no Docker engine answered: {error}"
            ) from error
        try:
            yield container.get_bootstrap_server()
        finally:
            container.stop()
        return
    with temporary_broker(cache_dir, work_dir) as broker:
        yield broker.bootstrap_servers
