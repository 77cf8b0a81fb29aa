"""A local single-node Kafka (KRaft) broker for development and tests, without Docker.

The broker jars are fetched from Maven Central with ``mvn dependency:copy-dependencies`` using
``deploy/kafka/pom.xml`` (which pins the version, ADR 0002) into a cache directory; a second
start downloads nothing. The broker runs detached from the caller, its ports, pid and data
directory recorded in ``<state_dir>/kafka/broker.json`` so that ``hub kafka stop|status`` and
``make run`` find it again. ``temporary_broker`` is the same machinery for test fixtures.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path

DEPLOY_DIR = Path(__file__).resolve().parents[2] / "deploy" / "kafka"
POM = DEPLOY_DIR / "pom.xml"
LOG_CONFIG = DEPLOY_DIR / "log4j2.yaml"
READY_TIMEOUT_S = 90.0
READY_PROBE_GROUP = "hub-ready-probe"  # asked for, never joined: no group is created

Progress = Callable[[str], None]

# Brokers this process launched, kept so they are reaped (and no Popen is collected while its
# child still runs, which Python reports as a ResourceWarning).
_LAUNCHED: dict[int, subprocess.Popen[bytes]] = {}

WAYS_OUT = (
    "Either install a JDK 17 or newer (Debian: `apt-get install openjdk-17-jre-headless`), "
    "or, where a Docker engine runs, start Kafka with `docker compose -f deploy/compose.yaml "
    "up -d` and set KAFKA_BOOTSTRAP_SERVERS=127.0.0.1:9092."
)


class JavaNotFoundError(RuntimeError):
    """No ``java`` to run the broker with."""


class MavenNotFoundError(RuntimeError):
    """No ``mvn`` to fetch the broker jars with (only needed on the first start)."""


@dataclass(frozen=True)
class LocalBroker:
    bootstrap_servers: str
    pid: int
    home: Path
    log_file: Path


def _stderr(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def kafka_version(pom: Path = POM) -> str:
    namespace = {"m": "http://maven.apache.org/POM/4.0.0"}
    version = ET.parse(pom).getroot().find("m:properties/m:kafka.version", namespace)  # noqa: S314
    if version is None or not version.text:
        raise RuntimeError(f"{pom} does not pin <kafka.version>")
    return version.text.strip()


def java_executable() -> str:
    java_home = os.environ.get("JAVA_HOME")
    if java_home and (Path(java_home) / "bin" / "java").is_file():
        return str(Path(java_home) / "bin" / "java")
    found = shutil.which("java")
    if found is None:
        raise JavaNotFoundError(f"Kafka needs Java, and no `java` was found. {WAYS_OUT}")
    return found


def ensure_jars(cache_dir: Path, progress: Progress = _stderr) -> Path:
    """The directory of broker jars, fetched with Maven the first time only."""
    version = kafka_version()
    lib = cache_dir / f"kafka-{version}" / "lib"
    marker = lib / ".complete"
    if marker.exists():
        return lib
    mvn = shutil.which("mvn")
    if mvn is None:
        raise MavenNotFoundError(
            "The Kafka jars are not cached yet and `mvn` was not found to fetch them. Install "
            f"Maven (Debian: `apt-get install maven`). {WAYS_OUT}"
        )
    progress(f"fetching Apache Kafka {version} jars from Maven Central into {lib} (once) ...")
    partial = lib.with_name("lib.partial")
    shutil.rmtree(partial, ignore_errors=True)
    completed = subprocess.run(  # noqa: S603 - fixed argv
        [
            mvn,
            "-B",
            "-q",
            "-f",
            str(POM),
            "dependency:copy-dependencies",
            f"-DoutputDirectory={partial}",
            "-DincludeScope=runtime",
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    if completed.returncode != 0:
        raise RuntimeError(
            f"mvn could not fetch the Kafka jars:\n{completed.stdout}{completed.stderr}"
        )
    shutil.rmtree(lib, ignore_errors=True)
    partial.rename(lib)
    marker.write_text(version)
    return lib


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _port_free(port: int) -> bool:
    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def _server_properties(
    home: Path,
    port: int,
    controller_port: int,
    *,
    node_id: int = 1,
    voters: str | None = None,
    replicas: int = 1,
) -> str:
    """One combined broker+controller node. ``voters`` and ``replicas`` > 1 make it a member of
    a cluster (``hub.kafka.cluster``): internal topics and new topics then get ``replicas``
    copies and need a majority of them in sync to accept an ``acks=all`` write."""
    min_isr = replicas // 2 + 1 if replicas > 1 else 1
    return "\n".join(
        [
            "process.roles=broker,controller",
            f"node.id={node_id}",
            f"controller.quorum.voters={voters or f'{node_id}@127.0.0.1:{controller_port}'}",
            f"listeners=PLAINTEXT://127.0.0.1:{port},CONTROLLER://127.0.0.1:{controller_port}",
            f"advertised.listeners=PLAINTEXT://127.0.0.1:{port}",
            "controller.listener.names=CONTROLLER",
            "inter.broker.listener.name=PLAINTEXT",
            "listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
            f"log.dirs={home / 'data'}",
            "num.partitions=1",
            "auto.create.topics.enable=true",
            f"default.replication.factor={replicas}",
            f"min.insync.replicas={min_isr}",
            "unclean.leader.election.enable=false",
            f"offsets.topic.replication.factor={replicas}",
            "offsets.topic.num.partitions=5",
            f"transaction.state.log.replication.factor={replicas}",
            f"transaction.state.log.min.isr={min_isr}",
            f"share.coordinator.state.topic.replication.factor={replicas}",
            f"share.coordinator.state.topic.min.isr={min_isr}",
            "group.initial.rebalance.delay.ms=0",
            "",
        ]
    )


def _java(lib: Path, home: Path, *args: str) -> list[str]:
    return [
        java_executable(),
        "-Xms256m",
        "-Xmx512m",
        "-XX:+UseG1GC",
        "-XX:TieredStopAtLevel=1",  # faster start; the broker is tiny here
        f"-Dlog4j2.configurationFile={LOG_CONFIG}",
        f"-Dkafka.logs.dir={home / 'logs'}",
        "-cp",
        f"{lib}/*",
        *args,
    ]


def random_cluster_id() -> str:
    """A KRaft cluster id (what ``kafka-storage random-uuid`` prints), without a JVM start."""
    while True:
        text = base64.urlsafe_b64encode(uuid.uuid4().bytes).rstrip(b"=").decode()
        if not text.startswith("-"):  # Kafka never issues these (they read as options)
            return text


def _format_storage(lib: Path, home: Path, cluster_id: str | None = None) -> None:
    """All nodes of one cluster must be formatted with the same ``cluster_id``."""
    if (home / "data" / "meta.properties").exists():
        return
    cluster_id = cluster_id or random_cluster_id()
    completed = subprocess.run(  # noqa: S603
        _java(
            lib,
            home,
            "kafka.tools.StorageTool",
            "format",
            "-t",
            cluster_id,
            "-c",
            str(home / "server.properties"),
        ),
        capture_output=True,
        text=True,
        check=False,
    )
    if completed.returncode != 0:
        raise RuntimeError(
            f"formatting KRaft storage failed:\n{completed.stdout}{completed.stderr}"
        )


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie child still "exists"; treat it as dead.
    try:
        status = Path(f"/proc/{pid}/stat").read_text().split()[2]
    except OSError:
        return True
    return status != "Z"


def _ready(bootstrap_servers: str, *, groups: bool = False) -> bool:
    """Whether the node answers metadata requests and, with ``groups``, names a consumer
    group's coordinator: the first such request creates the offsets topic, and until its
    partitions are loaded a joining worker is refused (which aiokafka logs as an ERROR)."""
    from confluent_kafka import KafkaException
    from confluent_kafka.admin import AdminClient

    host, _, port = bootstrap_servers.rpartition(":")
    try:  # a cheap gate first, so the client does not log every refused connection
        socket.create_connection((host, int(port)), timeout=1).close()
    except OSError:
        return False
    admin = AdminClient({"bootstrap.servers": bootstrap_servers, "log_level": 0})
    try:
        admin.list_topics(timeout=5)
    except Exception:  # KafkaException while the broker is still starting
        return False
    if not groups:
        return True
    try:
        admin.describe_consumer_groups([READY_PROBE_GROUP], request_timeout=5)[
            READY_PROBE_GROUP
        ].result()
    except KafkaException:  # NOT_COORDINATOR, COORDINATOR_LOAD_IN_PROGRESS while it loads
        return False
    return True


def _log_tail(log_file: Path, lines: int = 30) -> str:
    try:
        return "\n".join(log_file.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def launch(lib: Path, home: Path, port: int | None, progress: Progress = _stderr) -> LocalBroker:
    """Configure (first time), format (first time) and start a broker in ``home``; wait for it."""
    home.mkdir(parents=True, exist_ok=True)
    (home / "logs").mkdir(exist_ok=True)
    recorded = _read_record(home / "ports.json")
    if port is None and recorded and _port_free(recorded[0]) and _port_free(recorded[1]):
        port, controller_port = recorded
    else:
        port = port or _free_port()
        controller_port = _free_port()
    (home / "ports.json").write_text(json.dumps([port, controller_port]))
    (home / "server.properties").write_text(_server_properties(home, port, controller_port))
    _format_storage(lib, home)
    process = spawn(lib, home)
    broker = LocalBroker(f"127.0.0.1:{port}", process.pid, home, home / "logs" / "server.log")
    progress(f"starting Kafka on {broker.bootstrap_servers} ...")
    wait_ready(broker, groups=True)
    return broker


def spawn(lib: Path, home: Path) -> subprocess.Popen[bytes]:
    """Start the (configured, formatted) node in ``home``, detached; do not wait for it."""
    with (home / "logs" / "console.log").open("ab") as out:
        process = subprocess.Popen(  # noqa: S603
            _java(lib, home, "kafka.Kafka", str(home / "server.properties")),
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
    _LAUNCHED[process.pid] = process
    return process


def wait_ready(
    broker: LocalBroker, timeout_s: float = READY_TIMEOUT_S, *, groups: bool = False
) -> None:
    """Block until the node answers metadata requests and, with ``groups`` (a single node: a
    cluster's offsets topic needs its other nodes), names consumer groups' coordinator; stop it
    and raise if it never does."""
    console = broker.home / "logs" / "console.log"
    deadline = time.monotonic() + timeout_s
    while not _ready(broker.bootstrap_servers, groups=groups):
        if not _alive(broker.pid):
            process = _LAUNCHED.pop(broker.pid, None)
            code = process.wait() if process is not None else "?"
            raise RuntimeError(
                f"Kafka exited during start-up ({code}):\n"
                f"{_log_tail(console)}\n{_log_tail(broker.log_file)}"
            )
        if time.monotonic() > deadline:
            _terminate(broker.pid, 10)
            raise RuntimeError(
                f"Kafka was not ready in {timeout_s:.0f} s:\n{_log_tail(broker.log_file)}"
            )
        time.sleep(0.5)


def _read_record(path: Path) -> list[int] | None:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return [int(p) for p in data] if isinstance(data, list) and len(data) == 2 else None


def _terminate(pid: int, timeout_s: float) -> None:
    child = _LAUNCHED.pop(pid, None)
    if child is not None:
        child.terminate()
        try:
            child.wait(timeout_s)
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait()
        return
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    deadline = time.monotonic() + timeout_s
    while _alive(pid) and time.monotonic() < deadline:
        with contextlib.suppress(ChildProcessError):  # reap it if it is our child
            os.waitpid(pid, os.WNOHANG)
        time.sleep(0.2)
    if _alive(pid):
        os.kill(pid, signal.SIGKILL)
        with contextlib.suppress(ChildProcessError):
            os.waitpid(pid, 0)


def _state_file(state_dir: Path) -> Path:
    return state_dir / "kafka" / "broker.json"


def broker_status(state_dir: Path) -> LocalBroker | None:
    """The broker recorded in ``state_dir`` if its process is alive."""
    try:
        data = json.loads(_state_file(state_dir).read_text())
        broker = LocalBroker(
            data["bootstrap_servers"], int(data["pid"]), Path(data["home"]), Path(data["log_file"])
        )
    except (OSError, ValueError, KeyError):
        return None
    return broker if _alive(broker.pid) else None


def start_broker(
    state_dir: Path,
    jars_dir: Path,
    *,
    port: int | None = None,
    progress: Progress = _stderr,
) -> LocalBroker:
    """Start the local broker (or return the one already running). Data persists in state_dir;
    the jars are cached in ``jars_dir``."""
    running = broker_status(state_dir)
    if running is not None:
        return running
    lib = ensure_jars(jars_dir, progress)
    broker = launch(lib, state_dir / "kafka" / "broker", port, progress)
    record = {**asdict(broker), "home": str(broker.home), "log_file": str(broker.log_file)}
    _state_file(state_dir).write_text(json.dumps(record, indent=2))
    return broker


def stop_broker(state_dir: Path, timeout: float = 30.0) -> bool:
    """Stop the recorded broker; True if one was running."""
    broker = broker_status(state_dir)
    _state_file(state_dir).unlink(missing_ok=True)
    if broker is None:
        return False
    _terminate(broker.pid, timeout)
    return True


@contextmanager
def temporary_broker(cache_dir: Path, work_dir: Path) -> Iterator[LocalBroker]:
    """A broker for one test session: jars from the cache, data in ``work_dir``, always stopped."""
    lib = ensure_jars(cache_dir / "kafka-jars")
    broker = launch(lib, work_dir / "broker", None)
    try:
        yield broker
    finally:
        _terminate(broker.pid, 30)


def stop_local(broker: LocalBroker, timeout_s: float = 30.0) -> None:
    """Stop one broker (SIGTERM, then SIGKILL after ``timeout_s``); its data stays for a restart."""
    _terminate(broker.pid, timeout_s)
