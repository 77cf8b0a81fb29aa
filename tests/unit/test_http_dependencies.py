"""The front door reads the hub only through its typed dependencies; use cases know no HTTP.

``hub/http/dependencies.py`` is the one module that touches the app's (or a request's) untyped
``state``: every other module of ``hub/http`` takes a store, the sink or the reader as a typed
parameter, so mypy checks each use. A route that reads ``request.app.state.X`` again — a hand
written cast nothing checks — fails here, naming the file and line. And the use cases in
``hub/services`` take stores and the reader, never a FastAPI ``Request``: none imports FastAPI,
Starlette or the front door.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import hub

PACKAGE = Path(hub.__file__).parent
HTTP = PACKAGE / "http"
SERVICES = PACKAGE / "services"
THE_ONE = HTTP / "dependencies.py"
HTTP_PACKAGES = ("fastapi", "starlette", "hub.http")


def _modules(folder: Path) -> list[Path]:
    found = sorted(folder.rglob("*.py"))
    assert found, f"no modules under {folder}"
    return found


def state_reads(source: str, where: str) -> list[str]:
    """Every ``app.state`` or ``request.state`` (of any ``x.app`` or ``x.request`` too) in
    ``source``'s code, as ``where:line: expression``."""
    return [
        f"{where}:{node.lineno}: {ast.unparse(node)}"
        for node in ast.walk(ast.parse(source, filename=where))
        if isinstance(node, ast.Attribute)
        and node.attr == "state"
        and re.search(r"(^|\.)(app|request)$", ast.unparse(node.value))
    ]


def _state_reads(path: Path) -> list[str]:
    return state_reads(path.read_text(encoding="utf-8"), str(path.relative_to(PACKAGE.parent)))


def http_imports(path: Path) -> list[str]:
    """Every import in ``path`` of FastAPI, Starlette or ``hub.http``."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    names: list[tuple[int, str]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.extend((node.lineno, alias.name) for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module is not None:
            names.append((node.lineno, node.module))
    return [
        f"{path.relative_to(PACKAGE.parent)}:{line}: {name}"
        for line, name in names
        if any(name == top or name.startswith(f"{top}.") for top in HTTP_PACKAGES)
    ]


def test_no_module_of_the_front_door_but_dependencies_reads_state() -> None:
    reads = [read for path in _modules(HTTP) if path != THE_ONE for read in _state_reads(path)]
    assert reads == [], "read the hub through hub.http.dependencies instead:\n" + "\n".join(reads)


def test_the_check_finds_what_it_forbids() -> None:
    """Not vacuous: the reads a route used to make are found, as are the dependencies' own."""
    route = (
        "def store(request, app, check):\n"
        "    return request.app.state.store, request.state.client_id, app.state.sink\n"
        "    return check.state  # a token's state: no locator\n"
    )
    assert sorted(state_reads(route, "route.py")) == [
        "route.py:2: app.state",
        "route.py:2: request.app.state",
        "route.py:2: request.state",
    ]
    assert _state_reads(THE_ONE), "dependencies.py no longer reads the app's state?"


def test_use_cases_import_nothing_of_http() -> None:
    found = [line for path in _modules(SERVICES) for line in http_imports(path)]
    assert found == [], "a use case takes stores and the reader, not HTTP:\n" + "\n".join(found)
