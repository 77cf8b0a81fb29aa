"""Topic provisioning and the cluster facts ``/health`` reports."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from confluent_kafka import ConsumerGroupState, KafkaException
from confluent_kafka.admin import AdminClient, NewTopic  # type: ignore[attr-defined]

from hub.settings import Settings


def admin(bootstrap_servers: str) -> AdminClient:
    return AdminClient({"bootstrap.servers": bootstrap_servers})


def ensure_topics(settings: Settings, timeout_s: float = 30.0) -> list[str]:
    """Create the hub's topics where missing; return the names created."""
    client = admin(settings.bootstrap_servers())
    existing = set(client.list_topics(timeout=timeout_s).topics)
    wanted = [
        settings.case_events_topic,
        settings.quarantine_topic,
        settings.dead_letter_topic,
        settings.disclosures_topic,
        settings.family_events_topic,
    ]
    # The family topic is derived from the case-events (ADR 0009) but kept as long, so that a
    # projection rebuilt from it sees every event still readable.
    kept_forever = {
        settings.case_events_topic,
        settings.disclosures_topic,
        settings.family_events_topic,
    }
    refused_ms = str(int(settings.quarantine_retention_days * 86_400_000))
    missing = [
        NewTopic(
            name,
            num_partitions=settings.topic_partitions,
            replication_factor=settings.topic_replication_factor,
            # Case-events are the system of record: keep them (erasure is by crypto-shredding);
            # refused input for the quarantine retention (ADR 0020).
            config={"retention.ms": "-1" if name in kept_forever else refused_ms},
        )
        for name in wanted
        if name not in existing
    ]
    if not missing:
        return []
    for name, future in client.create_topics(missing, request_timeout=timeout_s).items():
        try:
            future.result()
        except KafkaException as error:
            if error.args[0].code() != 36:  # TOPIC_ALREADY_EXISTS: another process won the race
                raise
        del name
    return [topic.topic for topic in missing]


@dataclass(frozen=True)
class ClusterHealth:
    kafka_reachable: bool
    worker_consuming: bool
    detail: dict[str, Any]

    @property
    def healthy(self) -> bool:
        return self.kafka_reachable and self.worker_consuming


def cluster_health(settings: Settings, timeout_s: float = 5.0) -> ClusterHealth:
    """Is Kafka answering, and does the worker group have live members on the event topic?"""
    try:
        client = admin(settings.bootstrap_servers())
        metadata = client.list_topics(timeout=timeout_s)
    except (KafkaException, RuntimeError) as error:
        return ClusterHealth(False, False, {"kafka": f"unreachable: {error}"})
    detail: dict[str, Any] = {"kafka": f"{len(metadata.brokers)} broker(s)"}
    try:
        future = client.describe_consumer_groups([settings.worker_group], request_timeout=timeout_s)
        group = future[settings.worker_group].result()
    except KafkaException as error:
        detail["worker"] = f"consumer group unknown: {error}"
        return ClusterHealth(True, False, detail)
    members = len(group.members)
    stable = group.state == ConsumerGroupState.STABLE
    detail["worker"] = (
        f"group {settings.worker_group}: {group.state.name.lower()}, {members} member(s)"
    )
    return ClusterHealth(True, stable and members > 0, detail)
