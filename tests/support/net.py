"""Loopback ports for test servers."""

from __future__ import annotations

import contextlib
import os
import socket
from pathlib import Path


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def listening(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
    except OSError:
        return False
    return True


def accepting_process(pids: list[int], port: int, client_port: int) -> int | None:
    """Which of ``pids`` holds the server end of the loopback TCP connection from
    ``client_port`` to ``port`` (Linux: ``/proc/net/tcp`` names the socket's inode, a process's
    ``/proc/PID/fd`` links to the inodes it holds); None if none of them does (yet)."""
    inode = None
    with open("/proc/net/tcp") as table:
        next(table)
        for line in table:
            fields = line.split()
            local, remote = fields[1], fields[2]
            if (
                int(local.split(":")[1], 16) == port
                and int(remote.split(":")[1], 16) == client_port
            ):
                inode = fields[9]
    if inode is None:
        return None
    target = f"socket:[{inode}]"
    for pid in pids:
        fds = Path(f"/proc/{pid}/fd")
        for fd in fds.iterdir():
            with contextlib.suppress(OSError):  # closed since the listing
                if os.readlink(fd) == target:
                    return pid
    return None
