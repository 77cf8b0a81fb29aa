"""Files the hub writes under ``HUB_STATE_DIR`` are its owner's alone (ADR 0020).

The state directory holds the projection and key databases, the key-encryption key and the
local broker's data: every process that may create something there first calls
:func:`private_state`, which sets the process umask to 077 (so SQLite's ``-wal`` and ``-shm``
files, the broker's logs and anything a library creates are 0600/0700 as well) and makes the
directory 0700. :func:`private_file` creates one file 0600 whatever the umask, for the few the
hub creates itself.
"""

from __future__ import annotations

import os
from pathlib import Path

PRIVATE_FILE = 0o600
PRIVATE_DIR = 0o700


def private_state(state_dir: Path) -> None:
    """Owner-only from here on: umask 077 for this process, ``state_dir`` made 0700.

    A state directory from before ADR 0020 (0755, files 0644) is tightened in place: the
    directory's mode is what keeps other accounts out, and the SQLite files at its top are set
    to 0600 as well (their ``-wal``/``-shm`` take the database file's mode).
    """
    os.umask(0o077)
    state_dir.mkdir(parents=True, exist_ok=True, mode=PRIVATE_DIR)
    state_dir.chmod(PRIVATE_DIR)
    for path in state_dir.glob("*.sqlite3*"):
        path.chmod(PRIVATE_FILE)


def private_file(path: Path) -> None:
    """Create ``path`` empty and 0600 if it does not exist; make it 0600 if it does.

    An existing file is never opened: closing any descriptor of a SQLite database releases
    every POSIX lock the process holds on it, so opening and closing the file under a live
    connection would break SQLite's locking (its own documentation warns of exactly this).
    """
    path.parent.mkdir(parents=True, exist_ok=True, mode=PRIVATE_DIR)
    try:
        os.close(os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, PRIVATE_FILE))
    except FileExistsError:
        path.chmod(PRIVATE_FILE)
