"""docs/error-queue.md names only commands and options ``hub quarantine`` has, and every
command of it is documented there."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import typer

from hub.cli.quarantine import quarantine_app

DOC = Path(__file__).resolve().parents[2] / "docs" / "error-queue.md"


def documented() -> list[list[str]]:
    blocks = re.findall(r"```console\n(.*?)```", DOC.read_text("utf-8"), flags=re.DOTALL)
    return [
        shlex.split(line.removeprefix("$ "))
        for block in blocks
        for line in block.splitlines()
        if line.startswith("$ hub quarantine ")
    ]


def test_the_documented_commands_exist_with_their_options() -> None:
    group = typer.main.get_group(quarantine_app)
    used = set()
    for words in documented():
        name = words[2]
        command = group.commands.get(name)
        assert command is not None, f"docs/error-queue.md: no command hub quarantine {name}"
        used.add(name)
        options = {opt for param in command.params for opt in param.opts}
        for word in words[3:]:
            if word.startswith("--"):
                assert word in options, f"hub quarantine {name} has no option {word}"
    # purge is documented in the text (retention), every other command in an example
    assert set(group.commands) - used <= {"purge"}
    assert "hub quarantine purge" in DOC.read_text("utf-8")
