"""``hub schemas check``: refuse a schema change that breaks readers of existing data.

Backward compatibility (the new schema can read everything written with the previous one) is
what an append-only log needs: projections are rebuilt from the start of the log with today's
code. The check is Apache Avro's own ``ReaderWriterCompatibilityChecker``.

"Previous" is the committed version: with uncommitted edits, the file at ``HEAD``; otherwise the
file as it was before the last commit that changed it (so CI on a clean checkout still checks
the change that commit made).
"""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path

import avro.compatibility as compatibility
import avro.schema


@dataclass(frozen=True)
class SchemaReport:
    path: Path
    compared_with: str | None  # the git revision of the previous version, None if new
    problems: tuple[str, ...]

    @property
    def ok(self) -> bool:
        return not self.problems


def backward_problems(previous: str, current: str) -> list[str]:
    """Why ``current`` cannot read data written with ``previous`` (empty when it can)."""
    try:
        writer = avro.schema.parse(previous)
    except Exception as error:  # a committed schema that no longer parses: report, don't guess
        return [f"previous version does not parse: {error}"]
    try:
        reader = avro.schema.parse(current)
    except Exception as error:  # avro raises SchemaParseException and plain errors
        return [f"does not parse: {error}"]
    checker = compatibility.ReaderWriterCompatibilityChecker()  # type: ignore[no-untyped-call]
    result = checker.get_compatibility(reader=reader, writer=writer)
    if result.compatibility is compatibility.SchemaCompatibilityType.compatible:
        return []
    return [
        f"{kind.value} at {location}: {message}"
        for kind, location, message in zip(
            result.incompatibilities,
            sorted(result.locations),
            sorted(result.messages),
            strict=False,
        )
    ] or ["incompatible"]


def _git(repo: Path, *args: str) -> str | None:
    completed = subprocess.run(  # noqa: S603 - fixed git argv, no shell
        ["git", "-C", str(repo), *args],  # noqa: S607
        capture_output=True,
        text=True,
        check=False,
    )
    return completed.stdout if completed.returncode == 0 else None


def previous_version(path: Path) -> tuple[str, str] | None:
    """(revision, text) of the committed version to compare ``path`` against, if any."""
    repo_root = _git(path.parent, "rev-parse", "--show-toplevel")
    if repo_root is None:
        return None
    root = Path(repo_root.strip())
    relative = path.resolve().relative_to(root.resolve()).as_posix()
    at_head = _git(root, "show", f"HEAD:{relative}")
    if at_head is not None and at_head != path.read_text(encoding="utf-8"):
        return "HEAD", at_head
    last_change = _git(root, "log", "-n", "1", "--format=%H", "--", relative)
    if not last_change or not last_change.strip():
        return None
    revision = f"{last_change.strip()[:12]}^"
    before = _git(root, "show", f"{revision}:{relative}")
    return (revision, before) if before is not None else None


def check_directory(schema_dir: Path) -> list[SchemaReport]:
    reports = []
    for path in sorted(schema_dir.glob("*.avsc")):
        previous = previous_version(path)
        current = path.read_text(encoding="utf-8")
        if previous is None:
            problems = backward_problems(current, current)  # at least it must parse
            reports.append(SchemaReport(path, None, tuple(problems)))
            continue
        revision, text = previous
        reports.append(SchemaReport(path, revision, tuple(backward_problems(text, current))))
    return reports
