"""Broker faults on a real 3-node KRaft cluster (replication factor 3, min.insync.replicas 2).

Why: the hub tells a sender "accepted" only after an ``acks=all`` write (ADR 0004). These tests
show what that buys: one node SIGKILLed mid-stream loses, doubles and reorders nothing that
was acknowledged; with two nodes gone, writes are refused, not silently accepted, and succeed
again once the nodes are back. The cluster is the test's own, never the shared session broker.
"""

from __future__ import annotations

import asyncio
import threading
import time
import uuid
from collections.abc import Iterator

import pytest
from confluent_kafka import Consumer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic  # type: ignore[attr-defined]

from hub.kafka.cluster import LocalCluster, temporary_cluster
from hub.kafka.publisher import KafkaPublisher, PublishError
from tests.conftest import cache_dir

pytestmark = pytest.mark.kafka

KEYS = [f"person-{i}".encode() for i in range(6)]


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalCluster]:
    with temporary_cluster(cache_dir(), tmp_path_factory.mktemp("cluster"), nodes=3) as running:
        yield running


def _topic(cluster: LocalCluster) -> str:
    name = f"test.cluster.{uuid.uuid4().hex[:8]}"
    admin = AdminClient({"bootstrap.servers": cluster.bootstrap_servers})
    new = NewTopic(name, 3, 3, config={"min.insync.replicas": "2"})
    admin.create_topics([new])[name].result(30)
    _wait_fully_replicated(cluster, name)
    return name


def _wait_fully_replicated(cluster: LocalCluster, topic: str, timeout_s: float = 60) -> None:
    """Every partition has a leader and all three replicas in sync (after a restart: caught up)."""
    admin = AdminClient({"bootstrap.servers": cluster.bootstrap_servers, "log_level": 0})
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        partitions = admin.list_topics(topic, timeout=10).topics[topic].partitions
        if partitions and all(p.leader >= 0 and len(p.isrs) == 3 for p in partitions.values()):
            return
        time.sleep(0.5)
    raise AssertionError(f"{topic} did not get back to three in-sync replicas")


def _leader_of_partition_0(cluster: LocalCluster, topic: str) -> int:
    admin = AdminClient({"bootstrap.servers": cluster.bootstrap_servers})
    leader: int = admin.list_topics(topic, timeout=10).topics[topic].partitions[0].leader
    return leader


def _consume_all(cluster: LocalCluster, topic: str) -> list[tuple[bytes, bytes]]:
    """Every record (key, value) in offset order per partition, read up to the high watermark."""
    consumer = Consumer(
        {
            "bootstrap.servers": cluster.bootstrap_servers,
            "group.id": f"check-{uuid.uuid4().hex[:8]}",
            "enable.auto.commit": False,
            "isolation.level": "read_committed",
        }
    )
    try:
        ends = {
            p: consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=10)[1]
            for p in range(3)
        }
        consumer.assign([TopicPartition(topic, p, 0) for p in range(3)])
        seen: dict[int, int] = dict.fromkeys(range(3), 0)
        records: list[tuple[bytes, bytes]] = []
        deadline = time.monotonic() + 60
        while any(seen[p] < ends[p] for p in range(3)) and time.monotonic() < deadline:
            message = consumer.poll(1)
            if message is None or message.error():
                continue
            records.append((message.key() or b"", message.value() or b""))
            seen[message.partition() or 0] = (message.offset() or 0) + 1
        return records
    finally:
        consumer.close()


def _per_key(records: list[tuple[bytes, bytes]]) -> dict[bytes, list[bytes]]:
    by_key: dict[bytes, list[bytes]] = {}
    for key, value in records:
        by_key.setdefault(key, []).append(value)
    return by_key


def test_one_node_killed_mid_stream_loses_and_doubles_nothing_acknowledged(
    cluster: LocalCluster,
) -> None:
    topic = _topic(cluster)
    victim = _leader_of_partition_0(cluster, topic)  # a partition leader: the hard case
    publisher = KafkaPublisher(cluster.bootstrap_servers, timeout_s=30)
    acknowledged: dict[bytes, list[bytes]] = {key: [] for key in KEYS}
    refused: list[str] = []
    stop = threading.Event()

    async def sender(key: bytes) -> None:
        sequence = 0
        while not stop.is_set():
            value = f"{key.decode()}:{sequence}".encode()
            try:
                await publisher.publish(topic, key, value)
            except PublishError as error:  # one node down of three: this must not happen
                refused.append(f"{value!r}: {error}")
                return
            acknowledged[key].append(value)
            sequence += 1

    def fault() -> None:
        time.sleep(2)
        cluster.kill(victim)
        time.sleep(5)  # writes go on while the node is down
        cluster.restart(victim)
        _wait_fully_replicated(cluster, topic)
        time.sleep(2)  # and once it is back in sync
        stop.set()

    async def run() -> None:
        faulter = asyncio.create_task(asyncio.to_thread(fault))
        await asyncio.gather(*(sender(key) for key in KEYS))
        await faulter

    try:
        asyncio.run(run())
    finally:
        publisher.close()

    assert refused == []
    assert all(len(values) > 10 for values in acknowledged.values())
    # Exactly once, in order, per key: the idempotent producer's retries leave no duplicates.
    assert _per_key(_consume_all(cluster, topic)) == acknowledged


def test_two_nodes_down_refuses_writes_and_accepts_them_after_restart(
    cluster: LocalCluster,
) -> None:
    topic = _topic(cluster)
    publisher = KafkaPublisher(cluster.bootstrap_servers, timeout_s=6)
    survivors = [node.node_id for node in cluster.nodes]
    down = survivors[1:]
    try:
        asyncio.run(publisher.publish(topic, KEYS[0], b"before"))
        for node_id in down:
            cluster.kill(node_id)
        # One replica of three left: below min.insync.replicas, and no controller majority.
        with pytest.raises(PublishError):
            asyncio.run(publisher.publish(topic, KEYS[0], b"refused"))
        for node_id in down:
            cluster.restart(node_id)
        _wait_fully_replicated(cluster, topic)
        asyncio.run(publisher.publish(topic, KEYS[0], b"after"))
    finally:
        for node_id in down:  # leave the cluster whole for any later test
            if not cluster.node(node_id).pid:
                cluster.restart(node_id)
        publisher.close()

    values = _per_key(_consume_all(cluster, topic))[KEYS[0]]
    # A refused write may still reach the log (Kafka can append it before the replicas fail);
    # the sender was told "not accepted", so its resend is the copy that counts. What was
    # acknowledged is there once and in order.
    assert [v for v in values if v != b"refused"] == [b"before", b"after"]
    assert values.count(b"refused") <= 1


def test_the_cluster_reports_its_nodes(cluster: LocalCluster) -> None:
    brokers = AdminClient({"bootstrap.servers": cluster.bootstrap_servers}).list_topics(timeout=10)
    assert sorted(brokers.brokers) == [1, 2, 3]
