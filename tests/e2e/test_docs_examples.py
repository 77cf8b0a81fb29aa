"""docs/examples/, run as documented: every file sent with its folder's command from the README.

By convention, not by list: every ``hl7/*.hl7`` over MLLP expecting ``AA``, every
``fhir/*.json`` to ``/fhir/{resourceType}`` expecting 201, every ``webhooks/*.json`` signed to
the demo partner's webhook expecting 2xx — so a file someone adds is tried too. The command is
the README's text with only the file, the ports, the key and the secret substituted.
"""

from __future__ import annotations

import base64
import json
import os
import re
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from hub.connectors.partners import DEFAULT_PARTNERS_DIR, load_partners
from hub.settings import Settings
from tests.e2e.conftest import api_process, sender
from tests.support.net import free_port, listening
from tests.support.processes import eventually, hub_process

pytestmark = pytest.mark.kafka

REPO = Path(__file__).resolve().parents[2]
EXAMPLES = REPO / "docs" / "examples"
SECRET = "whsec_" + base64.b64encode(b"the docs examples' partner secret").decode()
EXPECTED = {"hl7": "MSA|AA|", "fhir": "HTTP/1.1 201", "webhooks": "202 "}


def documented_commands() -> dict[str, tuple[str, str]]:
    """Per folder: the README's command and the example file it names."""
    text = (EXAMPLES / "README.md").read_text()
    blocks = re.findall(r"```console\n(.*?)```", text, flags=re.DOTALL)
    found: dict[str, tuple[str, str]] = {}
    for line in (line for block in blocks for line in block.splitlines()):
        if line.startswith("$ "):
            [named] = re.findall(r"docs/examples/(\w+/[\w.-]+)", line)
            found[named.split("/")[0]] = (line[2:], f"docs/examples/{named}")
    return found


def examples() -> list[Path]:
    return sorted(p for folder in EXPECTED for p in (EXAMPLES / folder).glob("*") if p.is_file())


@pytest.fixture
def running(make_settings: Callable[..., Settings], tmp_path: Path) -> Iterator[Settings]:
    partners = list(load_partners(DEFAULT_PARTNERS_DIR))
    settings = make_settings(
        api_port=free_port(),
        mllp_port=free_port(),
        webhook_secrets={code: SECRET for code in partners},
    )
    with api_process(settings, tmp_path), hub_process("mllp", settings, tmp_path):
        eventually(lambda: listening(settings.mllp_port), timeout_s=60, what="MLLP")
        yield settings


def test_every_folder_has_its_command_and_every_file_a_folder() -> None:
    assert set(documented_commands()) == set(EXPECTED)
    strays = [p for p in EXAMPLES.rglob("*") if p.is_file() and p.parent.name not in EXPECTED]
    assert strays == [EXAMPLES / "README.md"]


def test_the_documented_command_sends_every_example(running: Settings) -> None:
    """One hub for all of them (a start per file would be slow); every failure is reported."""
    failures = [failure for example in examples() if (failure := send(example, running))]
    assert examples()
    assert not failures, "\n\n".join(failures)


def send(example: Path, running: Settings) -> str | None:
    """The folder's documented command for this file; what went wrong, if anything."""
    folder = example.parent.name
    command, named = documented_commands()[folder]
    command = command.replace(named, str(example.relative_to(REPO)))
    if folder == "fhir":
        resource_type = json.loads(example.read_text())["resourceType"]
        command = re.sub(r"/fhir/\w+ ", f"/fhir/{resource_type} ", command)
    key = sender()["Authorization"].removeprefix("Bearer ")
    command = (
        command.replace("--port 2575", f"--port {running.mllp_port}")
        .replace("localhost:8000", f"127.0.0.1:{running.api_port}")
        .replace("hubk_<the EPR key>", key)
    )
    done = subprocess.run(
        ["bash", "-c", command],
        cwd=REPO,
        env={**os.environ, "HUB_WEBHOOK_SECRET": SECRET},
        capture_output=True,
        text=True,
        timeout=60,
    )
    if EXPECTED[folder] in done.stdout:
        return None
    return f"{example.relative_to(REPO)}: $ {command}\n{done.stdout}\n{done.stderr}"
