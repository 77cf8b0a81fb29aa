"""docs/architecture.md and the README's commands stay true to the code.

The architecture page is where a newcomer looks for a module, so it must name every module of
``hub/`` (a new one fails here until it has its row) and nothing that is gone (a moved one fails
here until its row moves too): every path it writes exists, every bare ``name.py`` is a module of
the hub, every dotted ``hub.…`` name is a module or a name defined at a module's top level, and
every link opens a file. The README lists every ``make`` target, and only those.
"""

from __future__ import annotations

import ast
import re
from functools import cache
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DOC = ROOT / "docs" / "architecture.md"
TOP_DIRS = ("hub", "tests", "docs", "config", "schemas", "deploy", "benchmarks")
CODE = re.compile(r"`([^`\n]+)`")
PATH = re.compile(rf"^(?:{'|'.join(TOP_DIRS)})/[\w./-]*$")
BARE_MODULE = re.compile(r"^\w+\.py$")
# Dotted names of the hub; a topic (``hub.case-events.v1``, ``hub.quarantine.v1``) is not one.
DOTTED = re.compile(r"^hub(?:\.\w+)+$")
TOPIC = re.compile(r"\.v\d+$")
LINK = re.compile(r"\]\(([^)#\s]+)(?:#[^)]*)?\)")


def doc_text() -> str:
    return DOC.read_text(encoding="utf-8")


def code_spans() -> list[str]:
    return CODE.findall(doc_text())


def hub_modules() -> list[str]:
    """Every module file of the package, as a path from the repository root."""
    return sorted(
        path.relative_to(ROOT).as_posix()
        for path in (ROOT / "hub").rglob("*.py")
        if path.name != "__init__.py"
    )


@cache
def top_level_names(module_file: Path) -> frozenset[str]:
    """The names a module defines at its top level (functions, classes, assignments, imports)."""
    names: set[str] = set()
    for node in ast.parse(module_file.read_text(encoding="utf-8")).body:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            names.add(node.name)
        elif isinstance(node, ast.Assign):
            names.update(t.id for t in node.targets if isinstance(t, ast.Name))
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            names.add(node.target.id)
        elif isinstance(node, ast.Import | ast.ImportFrom):
            names.update((alias.asname or alias.name).split(".")[0] for alias in node.names)
    return frozenset(names)


def resolves(dotted: str) -> bool:
    """``hub.a.b`` is a package or module, or ``hub.a.b.name`` a name module ``hub.a.b`` defines
    at its top level (``hub.a.B.method`` is checked as far as ``B``)."""
    parts = dotted.split(".")
    for end in range(len(parts), 0, -1):
        base = ROOT.joinpath(*parts[:end])
        module = base.with_suffix(".py")
        package = base / "__init__.py"
        found = module if module.is_file() else package if package.is_file() else None
        if found is None:
            continue
        rest = parts[end:]
        return not rest or rest[0] in top_level_names(found)
    return False


def test_every_module_of_the_hub_is_named() -> None:
    named = set(code_spans())
    missing = [module for module in hub_modules() if module not in named]
    assert not missing, f"docs/architecture.md names no row for: {missing}"


def test_every_path_it_names_exists() -> None:
    paths = sorted({span for span in code_spans() if PATH.match(span)})
    assert paths, "the page names no paths: the pattern is wrong"
    gone = [path for path in paths if not (ROOT / path).exists()]
    assert not gone, f"docs/architecture.md names paths that do not exist: {gone}"


def test_every_bare_module_name_is_a_module_of_the_hub() -> None:
    modules = {Path(module).name for module in hub_modules()}
    bare = sorted({span for span in code_spans() if BARE_MODULE.match(span)})
    unknown = [name for name in bare if name not in modules]
    assert not unknown, f"docs/architecture.md names modules the hub does not have: {unknown}"


def test_every_dotted_name_it_gives_resolves() -> None:
    dotted = sorted(
        {span for span in code_spans() if DOTTED.match(span) and not TOPIC.search(span)}
    )
    unresolved = [name for name in dotted if not resolves(name)]
    assert not unresolved, f"docs/architecture.md names what the code does not define: {unresolved}"


def test_every_link_opens_a_file() -> None:
    targets = sorted({target for target in LINK.findall(doc_text()) if "://" not in target})
    broken = [target for target in targets if not (DOC.parent / target).exists()]
    assert not broken, f"docs/architecture.md links to files that do not exist: {broken}"


def make_targets() -> set[str]:
    text = (ROOT / "Makefile").read_text(encoding="utf-8")
    return set(re.findall(r"^([a-z][a-z0-9-]*):", text, flags=re.MULTILINE))


def test_the_makefile_declares_its_targets_phony() -> None:
    text = (ROOT / "Makefile").read_text(encoding="utf-8").replace("\\\n", " ")
    phony = re.search(r"^\.PHONY:(.*)$", text, flags=re.MULTILINE)
    assert phony is not None
    assert set(phony.group(1).split()) == make_targets()


@pytest.mark.parametrize("direction", ["targets in the README", "README commands are targets"])
def test_the_readme_lists_every_make_target_and_only_those(direction: str) -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    listed = set(re.findall(r"\bmake ([a-z][a-z0-9-]*)", readme))
    targets = make_targets()
    if direction == "targets in the README":
        assert targets - listed == set(), "README.md does not list these make targets"
    else:
        assert listed - targets == set(), "README.md lists make commands that do not exist"
