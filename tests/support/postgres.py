"""A throwaway PostgreSQL server from Debian's packages, for the store's adapter tests.

``HUB_TEST_DATABASE_URL`` wins when set. Otherwise a cluster is initdb'd in a temporary
directory, started on a free loopback port with trust auth and fsync off, and removed at the
end. PostgreSQL refuses to run as root, so as root the server runs as the ``postgres`` user.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import psycopg
from sqlalchemy import make_url


def postgres_bin() -> Path:
    candidates = sorted(
        Path("/usr/lib/postgresql").glob("*/bin/postgres"),
        key=lambda p: int(p.parent.parent.name) if p.parent.parent.name.isdigit() else 0,
    )
    if not candidates:
        raise RuntimeError(
            "PostgreSQL server binaries not found under /usr/lib/postgresql; install Debian's "
            "package (`apt-get install postgresql`, or run deploy/install-system-deps.sh), or set "
            "HUB_TEST_DATABASE_URL to an existing database."
        )
    return candidates[-1].parent


def _as_server_user(argv: list[str]) -> list[str]:
    if os.geteuid() != 0:
        return argv
    return ["runuser", "-u", "postgres", "--", *argv]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass(frozen=True)
class PostgresServer:
    """A running throwaway server: its database URL, and stop/start for fault tests."""

    url: str
    data: Path
    log: Path
    port: int
    sockets: Path
    durable: bool = False  # fsync and synchronous_commit as in production, not off

    def _pg_ctl(self, *args: str) -> None:
        subprocess.run(
            _as_server_user([str(postgres_bin() / "pg_ctl"), "-D", str(self.data), *args]),
            check=True,
            capture_output=True,
        )

    def start(self) -> None:
        self._pg_ctl(
            "-l",
            str(self.log),
            "-w",
            "-t",
            "60",
            "-o",
            f"-p {self.port} -c listen_addresses=127.0.0.1 -k {self.sockets}"
            + ("" if self.durable else " -c fsync=off -c synchronous_commit=off")
            + ("" if self.durable else " -c full_page_writes=off"),
            "start",
        )

    def stop(self) -> None:
        """A fast shutdown: open sessions are disconnected, as in a real restart."""
        self._pg_ctl("-m", "fast", "-w", "stop")


@contextmanager
def temporary_postgres(work_dir: Path) -> Iterator[str]:
    """Yield a SQLAlchemy URL of an empty database on a server that lives for the block."""
    existing = os.environ.get("HUB_TEST_DATABASE_URL")
    if existing:
        yield existing
        return
    with postgres_server() as server:
        yield server.url


@contextmanager
def postgres_server(*, durable: bool = False) -> Iterator[PostgresServer]:
    """A server of our own (never ``HUB_TEST_DATABASE_URL``: a fault test stops it); fsync off
    for tests, on (``durable``) for a benchmark that measures what durability costs."""
    bin_dir = postgres_bin()
    # Outside work_dir: the postgres user must be able to reach it (pytest's tmp is 0700).
    root = Path(tempfile.mkdtemp(prefix="hub-pg-"))
    data, sockets, log = root / "data", root / "sockets", root / "server.log"
    sockets.mkdir()
    if os.geteuid() == 0:
        shutil.chown(root, "postgres")
        shutil.chown(sockets, "postgres")
        root.chmod(0o700)
    port = _free_port()
    server = PostgresServer(
        f"postgresql+psycopg://postgres@127.0.0.1:{port}/hub_test",
        data,
        log,
        port,
        sockets,
        durable,
    )
    try:
        subprocess.run(
            _as_server_user(
                [
                    str(bin_dir / "initdb"),
                    "-D",
                    str(data),
                    "-U",
                    "postgres",
                    "--auth=trust",
                    "--encoding=UTF8",
                    "--no-sync",
                ]
            ),
            check=True,
            capture_output=True,
        )
        server.start()
    except subprocess.CalledProcessError as error:
        tail = log.read_text(errors="replace")[-3000:] if log.exists() else ""
        shutil.rmtree(root, ignore_errors=True)
        raise RuntimeError(
            f"could not start PostgreSQL: {error.stderr.decode(errors='replace')}\n{tail}"
        ) from error
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                with psycopg.connect(
                    f"host=127.0.0.1 port={port} user=postgres dbname=postgres", autocommit=True
                ) as connection:
                    connection.execute("CREATE DATABASE hub_test")
                break
            except psycopg.OperationalError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.3)
        yield server
    finally:
        subprocess.run(
            _as_server_user([str(bin_dir / "pg_ctl"), "-D", str(data), "-m", "fast", "-w", "stop"]),
            check=False,
            capture_output=True,
        )
        shutil.rmtree(root, ignore_errors=True)


@contextmanager
def fresh_database(server_url: str, prefix: str = "fresh") -> Iterator[str]:
    """The URL of a new, empty database on the server of ``server_url``, dropped (connections
    and all) at the block's end."""
    url = make_url(server_url)
    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    admin = f"host={url.host} port={url.port} user={url.username} dbname=postgres"
    with psycopg.connect(admin, autocommit=True) as connection:
        connection.execute(f"CREATE DATABASE {name}")
    try:
        yield url.set(database=name).render_as_string(hide_password=False)
    finally:
        with psycopg.connect(admin, autocommit=True) as connection:
            connection.execute(f"DROP DATABASE {name} WITH (FORCE)")
