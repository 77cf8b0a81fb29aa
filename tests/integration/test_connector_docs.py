"""docs/connectors.md, followed command by command: scaffold a connector as its own package,
install it, find it, dry-run it, run its tests, and run it into the real broker.

The package is installed into a directory of its own (``PIP_TARGET``, on ``PYTHONPATH``), not
into the hub's environment, so it is exactly "a separate package" and leaves nothing behind.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from hub.settings import Settings
from tests.support.processes import settings_env
from tests.support.topics import read_case_events

DOC = Path(__file__).resolve().parents[2] / "docs" / "connectors.md"


def commands() -> list[str]:
    """Every ``$ `` line inside the doc's console blocks, in order."""
    blocks = re.findall(r"```console\n(.*?)```", DOC.read_text(), flags=re.DOTALL)
    return [line[2:] for block in blocks for line in block.splitlines() if line.startswith("$ ")]


def test_the_doc_has_the_steps() -> None:
    steps = commands()
    assert [s.split()[:3] for s in steps[:2]] == [
        ["hub", "connector", "new"],
        ["pip", "install", "./hub-connector-home-visits"],
    ]
    assert any(step.startswith("hub connector run") for step in steps)


@pytest.mark.kafka
def test_following_the_doc(make_settings: Callable[..., Settings], tmp_path: Path) -> None:
    settings = make_settings()
    site = tmp_path / "site"
    env = {
        **settings_env(settings),
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
        "PIP_TARGET": str(site),
        "PIP_NO_DEPS": "1",  # the hub is installed already; nothing else is needed
        "PIP_DISABLE_PIP_VERSION_CHECK": "1",
        "PYTHONPATH": str(site),
    }
    outputs = []
    for step in commands():
        done = subprocess.run(
            ["bash", "-c", step],
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
            timeout=240,
            check=False,
        )
        assert done.returncode == 0, f"$ {step}\n{done.stdout}\n{done.stderr}"
        outputs.append(done.stdout + done.stderr)
    listed = next(o for s, o in zip(commands(), outputs, strict=True) if s.endswith("list"))
    assert re.search(r"home-visits .*\[hub-connector-home-visits\]", listed)
    dry_run = next(o for s, o in zip(commands(), outputs, strict=True) if " test " in s)
    assert "2 records: 2 mapped to 2 events, 0 refused" in dry_run
    run = next(o for s, o in zip(commands(), outputs, strict=True) if " run " in s)
    assert "2 records, 2 events published" in run
    events = read_case_events(settings, expect=2)
    assert sorted(e.event_type.value for e in events) == [
        "APPOINTMENT_ATTENDED",
        "APPOINTMENT_MISSED",
    ]
    hub_alone = subprocess.run(
        [str(Path(sys.executable).parent / "hub"), "connector", "list"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert "home-visits" not in hub_alone.stdout  # the hub's own environment is untouched


def _next_step(cwd: Path, env: dict[str, str], *args: str) -> str:
    made = subprocess.run(
        ["hub", "connector", "new", *args], cwd=cwd, env=env, capture_output=True, text=True
    )
    assert made.returncode == 0, made.stderr
    [step] = [line for line in made.stdout.splitlines() if line.startswith("next: ")]
    return step.removeprefix("next: ")


def test_the_next_step_hub_connector_new_prints_works(tmp_path: Path) -> None:
    """What ``hub connector new`` says to do next installs the package it made from its
    directory (a bare name would be looked up on the package index, where it is not) and
    dry-runs its sample."""
    env = {
        **os.environ,
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
        "PIP_TARGET": str(tmp_path / "site"),
        "PIP_NO_DEPS": "1",
        "PIP_DISABLE_PIP_VERSION_CHECK": "1",
        "PYTHONPATH": str(tmp_path / "site"),
    }
    elsewhere = tmp_path / "elsewhere"
    step = _next_step(tmp_path, env, "clinic-visits", "--directory", str(elsewhere))
    assert step.startswith(f"pip install {elsewhere}/hub-connector-clinic-visits && "), step
    step = _next_step(tmp_path, env, "walk-ins")
    assert step.startswith("pip install ./hub-connector-walk-ins && "), step
    done = subprocess.run(
        ["bash", "-c", step], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=240
    )
    assert done.returncode == 0, f"$ {step}\n{done.stdout}\n{done.stderr}"
    assert "2 records: 2 mapped to 2 events, 0 refused" in done.stderr
