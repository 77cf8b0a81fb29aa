"""Only the composition root wires the hub: no process opens its own engine, producer, key
store or sink, or reads the agreement file itself (issue 18).

A process that builds these by hand decides on its own which database, key store and agreement
it runs on — the way ``CaseEventSink`` once opened a second engine on the key store when it was
given none. :mod:`hub.bootstrap` decides that once; the adapters that define the builders may
call them. This reads every module of ``hub`` (``ast``, not a grep: a comment or a docstring
naming a builder is no call) and lists each call anywhere else.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import hub

HUB = Path(hub.__file__).parent
ROOT = "hub/bootstrap.py"

# Each builder, and the modules besides the root that may call it: where it is defined, and
# the key store's own opener (which opens its database and reads the projection database for
# keys from before ADR 0020).
BUILDERS: dict[str, tuple[str, ...]] = {
    "make_engine": ("hub/storage/", "hub/erasure/keystore.py"),
    "KafkaPublisher": ("hub/kafka/",),
    "load_agreement": ("hub/sharing/agreement.py",),
    "open_key_store": ("hub/erasure/keystore.py",),
    "CaseEventSink": ("hub/ingest/",),
}

# Processes that still wire themselves, each call named. The list only shrinks: an entry that
# no longer calls fails below.
NOT_YET: frozenset[tuple[str, str]] = frozenset()


def builder_calls(source: str) -> Iterator[tuple[int, str]]:
    """``(line, builder)`` for each call of a builder in ``source``, by name or attribute, and
    through an ``import ... as`` alias."""
    tree = ast.parse(source)
    aliases = {name: name for name in BUILDERS}
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            for alias in node.names:
                if alias.name in BUILDERS and alias.asname:
                    aliases[alias.asname] = alias.name
    calls = sorted(
        (node for node in ast.walk(tree) if isinstance(node, ast.Call)),
        key=lambda node: (node.lineno, node.col_offset),
    )
    for node in calls:
        func = node.func
        called = (
            func.id
            if isinstance(func, ast.Name)
            else func.attr
            if isinstance(func, ast.Attribute)
            else None
        )
        if called in aliases:
            yield node.lineno, aliases[called]


def _calls() -> dict[tuple[str, str], list[int]]:
    found: dict[tuple[str, str], list[int]] = {}
    for path in sorted(HUB.rglob("*.py")):
        module = f"hub/{path.relative_to(HUB).as_posix()}"
        for line, builder in builder_calls(path.read_text("utf-8")):
            if module == ROOT or module.startswith(BUILDERS[builder]):
                continue
            found.setdefault((module, builder), []).append(line)
    return found


def test_no_process_builds_what_the_composition_root_builds() -> None:
    offenders = [
        f"{module}:{line} calls {builder}(): take it from hub/bootstrap.py"
        for (module, builder), lines in sorted(_calls().items())
        if (module, builder) not in NOT_YET
        for line in lines
    ]
    assert not offenders, "\n".join(offenders)


def test_the_list_of_processes_not_yet_on_the_root_only_shrinks() -> None:
    stale = sorted(NOT_YET - _calls().keys())
    assert not stale, "\n".join(
        f"{module} no longer calls {builder}(): remove it from NOT_YET" for module, builder in stale
    )


def test_the_check_sees_a_call_by_name_by_attribute_and_through_an_alias() -> None:
    source = (
        "from hub.storage.engine import make_engine as engine_for\n"
        "import hub.kafka.publisher\n"
        "e = engine_for('sqlite://')\n"
        "p = hub.kafka.publisher.KafkaPublisher('localhost:9092')\n"
        "a = load_agreement()\n"
        "# make_engine( in a comment is no call\n"
        "'CaseEventSink(publisher, settings)'\n"
    )
    assert list(builder_calls(source)) == [
        (3, "make_engine"),
        (4, "KafkaPublisher"),
        (5, "load_agreement"),
    ]
