"""Every ``hub`` command's ``--help`` reads well at 80 columns.

The help texts are docstrings written at 100 columns and rendered as Markdown
(``hub.cli.common.command_group``), so they reflow to the terminal. These tests walk the
whole command tree: each description must come out whole (Markdown must not eat a ``*`` or
``_`` that was meant literally) and reflowed (no line of a paragraph broken short before the
paragraph ends, as Typer's default rendering did with every paragraph after the first).
"""

from __future__ import annotations

import inspect
import re
from collections.abc import Iterator
from itertools import pairwise
from typing import Any

import pytest
import typer.main
from typer.testing import CliRunner

from hub.cli.main import app

WIDTH = 80
_CODE_SPAN = re.compile(r"`+[^`]*`+")


def _commands() -> Iterator[tuple[list[str], Any]]:
    root = typer.main.get_command(app)

    def walk(path: list[str], command: Any) -> Iterator[tuple[list[str], Any]]:
        yield path, command
        subcommands: dict[str, Any] = getattr(command, "commands", {})
        for name, sub in sorted(subcommands.items()):
            yield from walk([*path, name], sub)

    yield from walk([], root)


COMMANDS = list(_commands())


def _help(path: list[str]) -> str:
    result = CliRunner().invoke(app, [*path, "--help"], env={"COLUMNS": str(WIDTH)})
    assert result.exit_code == 0, result.output
    return result.output


def _description(output: str) -> list[str]:
    """The lines between the usage line and the first box of options or commands."""
    lines = output.splitlines()
    start = next(i for i, line in enumerate(lines) if line.strip().startswith("Usage:")) + 1
    end = next((i for i, line in enumerate(lines) if line.lstrip().startswith("╭")), len(lines))
    return [line.strip() for line in lines[start:end]]


def _docstring(command: Any) -> str:
    return inspect.cleandoc(command.help or "").partition("\f")[0]


def _ids() -> list[str]:
    return [" ".join(path) or "hub" for path, _ in COMMANDS]


def test_the_command_tree_is_walked() -> None:
    names = {" ".join(path) for path, _ in COMMANDS}
    assert {"run", "quarantine replay", "connector run", "outcomes"} <= names


@pytest.mark.parametrize(("path", "command"), COMMANDS, ids=_ids())
def test_help_names_no_markdown_emphasis_by_accident(path: list[str], command: Any) -> None:
    """A ``*`` outside a code span would start emphasis and vanish from the help."""
    texts = [_docstring(command)] + [getattr(param, "help", None) or "" for param in command.params]
    for text in texts:
        assert "*" not in _CODE_SPAN.sub("", text), f"put it in backticks: {text!r}"


@pytest.mark.parametrize(("path", "command"), COMMANDS, ids=_ids())
def test_description_is_whole_and_reflowed(path: list[str], command: Any) -> None:
    doc = _docstring(command)
    if not doc:
        return
    lines = _description(_help(path))
    shown = "".join("".join(lines).split())
    written = "".join(_CODE_SPAN.sub(lambda m: m.group(0).strip("`"), doc).split())
    assert written in shown, f"the help lost part of the docstring: {' '.join(lines)!r}"
    paragraphs: list[list[str]] = [[]]
    for line in lines:
        if line:
            paragraphs[-1].append(line)
        elif paragraphs[-1]:
            paragraphs.append([])
    for paragraph in paragraphs:
        for line, following in pairwise(paragraph):
            first_word = following.split()[0]
            assert len(line) + 1 + len(first_word) > WIDTH - 4, (
                f"line broken short before its paragraph ends: {line!r} / {following!r}"
            )
