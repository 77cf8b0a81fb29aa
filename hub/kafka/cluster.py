"""A local Kafka cluster of N combined broker+controller nodes (KRaft), without Docker.

Why: a single broker cannot show what replication buys. With three nodes, one controller
quorum, replication factor 3 and ``min.insync.replicas=2`` (a majority), the hub's ``acks=all``
writes survive the loss of any one node, and are refused (never silently accepted) when two are
gone. The nodes reuse ``hub.kafka.local``'s Maven-fetched jars and start-up code; each node
keeps its ports and data directory, so a killed node restarts as itself and catches up.
``hub kafka start --nodes 3`` records the cluster in ``<state_dir>/kafka/cluster.json``;
``temporary_cluster`` is the same for tests.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path

from hub.kafka.local import (
    _LAUNCHED,
    LocalBroker,
    Progress,
    _alive,
    _format_storage,
    _free_port,
    _server_properties,
    _stderr,
    _terminate,
    ensure_jars,
    random_cluster_id,
    spawn,
    wait_ready,
)


@dataclass
class ClusterNode:
    """One node: fixed id, ports and home across restarts; ``pid`` changes on each start."""

    node_id: int
    port: int
    controller_port: int
    home: Path
    pid: int = 0

    @property
    def bootstrap_servers(self) -> str:
        return f"127.0.0.1:{self.port}"

    def broker(self) -> LocalBroker:
        return LocalBroker(self.bootstrap_servers, self.pid, self.home, self.log_file)

    @property
    def log_file(self) -> Path:
        return self.home / "logs" / "server.log"


@dataclass
class LocalCluster:
    nodes: list[ClusterNode]
    lib: Path

    @property
    def bootstrap_servers(self) -> str:
        return ",".join(node.bootstrap_servers for node in self.nodes)

    def node(self, node_id: int) -> ClusterNode:
        return next(node for node in self.nodes if node.node_id == node_id)

    def kill(self, node_id: int) -> None:
        """SIGKILL the node: no clean shutdown, no flush; what a crash or OOM kill does."""
        node = self.node(node_id)
        process = _LAUNCHED.pop(node.pid, None)
        with suppress(ProcessLookupError):
            os.kill(node.pid, signal.SIGKILL)
        if process is not None:
            process.wait()
        node.pid = 0

    def restart(self, node_id: int) -> None:
        """Start a stopped node again with its own data and ports; wait until it answers."""
        node = self.node(node_id)
        node.pid = spawn(self.lib, node.home).pid
        wait_ready(node.broker())

    def stop(self, timeout_s: float = 30.0) -> None:
        """SIGTERM all nodes at once: one by one, the last would wait for a lost quorum."""
        running = [node for node in self.nodes if node.pid and _alive(node.pid)]
        for node in running:
            with suppress(ProcessLookupError):
                os.kill(node.pid, signal.SIGTERM)
        for node in running:
            _terminate(node.pid, timeout_s)
        for node in self.nodes:
            node.pid = 0


def launch_cluster(
    lib: Path, work_dir: Path, nodes: int, progress: Progress = _stderr
) -> LocalCluster:
    """Configure, format (one cluster id) and start ``nodes`` nodes; wait until all answer.

    All nodes start together: a KRaft controller cannot finish starting until a majority of
    voters is up, so starting them one by one would wait on each other.
    """
    if nodes < 1:
        raise ValueError("a cluster needs at least one node")
    members = [
        ClusterNode(node_id, _free_port(), _free_port(), work_dir / f"node-{node_id}")
        for node_id in range(1, nodes + 1)
    ]
    voters = ",".join(f"{n.node_id}@127.0.0.1:{n.controller_port}" for n in members)
    cluster_id = random_cluster_id()
    for node in members:
        (node.home / "logs").mkdir(parents=True, exist_ok=True)
        (node.home / "server.properties").write_text(
            _server_properties(
                node.home,
                node.port,
                node.controller_port,
                node_id=node.node_id,
                voters=voters,
                replicas=min(nodes, 3),
            )
        )
        _format_storage(lib, node.home, cluster_id)
    cluster = LocalCluster(members, lib)
    try:
        for node in members:
            node.pid = spawn(lib, node.home).pid
        progress(f"starting a {nodes}-node Kafka cluster on {cluster.bootstrap_servers} ...")
        for node in members:
            wait_ready(node.broker())
    except BaseException:
        cluster.stop(10)
        raise
    return cluster


@contextmanager
def temporary_cluster(cache_dir: Path, work_dir: Path, nodes: int = 3) -> Iterator[LocalCluster]:
    """A cluster for one test: jars from the cache, data in ``work_dir``, always stopped."""
    cluster = launch_cluster(ensure_jars(cache_dir / "kafka-jars"), work_dir, nodes)
    try:
        yield cluster
    finally:
        cluster.stop()


def _state_file(state_dir: Path) -> Path:
    return state_dir / "kafka" / "cluster.json"


def cluster_status(state_dir: Path) -> LocalCluster | None:
    """The cluster recorded in ``state_dir`` if any of its nodes is alive."""
    try:
        data = json.loads(_state_file(state_dir).read_text())
        nodes = [
            ClusterNode(n["node_id"], n["port"], n["controller_port"], Path(n["home"]), n["pid"])
            for n in data["nodes"]
        ]
        cluster = LocalCluster(nodes, Path(data["lib"]))
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return cluster if any(_alive(node.pid) for node in nodes) else None


def start_cluster(
    state_dir: Path, jars_dir: Path, nodes: int, progress: Progress = _stderr
) -> LocalCluster:
    """Start the local cluster (or return the one running). Data is fresh on each start; the
    jars are cached in ``jars_dir``."""
    running = cluster_status(state_dir)
    if running is not None:
        return running
    lib = ensure_jars(jars_dir, progress)
    work_dir = state_dir / "kafka" / "cluster"
    shutil.rmtree(work_dir, ignore_errors=True)
    cluster = launch_cluster(lib, work_dir, nodes, progress)
    record = {
        "lib": str(lib),
        "nodes": [
            {
                "node_id": n.node_id,
                "port": n.port,
                "controller_port": n.controller_port,
                "home": str(n.home),
                "pid": n.pid,
            }
            for n in cluster.nodes
        ],
    }
    _state_file(state_dir).write_text(json.dumps(record, indent=2))
    return cluster


def stop_cluster(state_dir: Path, timeout: float = 30.0) -> bool:
    """Stop the recorded cluster; True if one was running."""
    cluster = cluster_status(state_dir)
    _state_file(state_dir).unlink(missing_ok=True)
    if cluster is None:
        return False
    cluster.stop(timeout)
    return True
