"""What the hub writes is its owner's alone, and its logs name nobody (ADR 0020)."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import text

from hub.log_redaction import redact_path
from hub.nhs_number import nhs_numbers_in
from hub.storage.engine import make_engine
from hub.storage.files import private_state


@pytest.fixture
def careless_umask() -> Iterator[None]:
    """The umask most accounts have (022): files 0644 unless the hub says otherwise."""
    before = os.umask(0o022)
    try:
        yield
    finally:
        os.umask(before)


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.mark.usefixtures("careless_umask")
def test_a_sqlite_store_and_its_wal_and_shm_files_are_0600(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'projections.sqlite3'}")
    with engine.begin() as connection:
        connection.execute(text("CREATE TABLE t (x TEXT)"))
        connection.execute(text("INSERT INTO t VALUES ('9434765919')"))
    with engine.connect() as connection:  # a second connection: WAL and SHM in use
        connection.execute(text("SELECT * FROM t")).all()
        files = sorted(tmp_path.glob("projections.sqlite3*"))
        assert [f.name for f in files] == [
            "projections.sqlite3",
            "projections.sqlite3-shm",
            "projections.sqlite3-wal",
        ]
        assert {f.name: mode(f) for f in files} == {f.name: 0o600 for f in files}
    engine.dispose()


@pytest.mark.usefixtures("careless_umask")
def test_private_state_tightens_an_old_state_dir_and_everything_made_after(
    tmp_path: Path,
) -> None:
    state = tmp_path / "state"
    state.mkdir(mode=0o755)
    old = state / "projections.sqlite3"
    old.write_bytes(b"")
    old.chmod(0o644)
    private_state(state)
    (state / "broker.log").write_text("made by anything in the process afterwards")
    (state / "faust").mkdir()
    assert mode(state) == 0o700
    assert mode(old) == 0o600
    assert mode(state / "broker.log") == 0o600
    assert mode(state / "faust") == 0o700


@pytest.mark.parametrize(
    ("logged", "expected"),
    [
        ("/people/9434765919/team", "/people/<person>/team"),
        ("/people/9434765919/alerts", "/people/<person>/alerts"),
        ("/people/9434765919/disclosures", "/people/<person>/disclosures"),
        ("/people/9434765919/erasure", "/people/<person>/erasure"),
        ("/people/9434765919", "/people/<person>"),
        ("/people/urn:council:355:person%7CP-77/team", "/people/<person>/team"),
        (
            "/people/https%3A//fhir.nhs.uk/Id/nhs-number%7C9434765919/alerts",
            "/people/<person>/alerts",
        ),
        ("/people/9434765919/alerts?api_key=x", "/people/<person>/alerts?<redacted>"),
        ("/fhir/Patient/943-476-5919", "/fhir/Patient/<nhs-number>"),
        ("/fhir/Patient/943 476 5919", "/fhir/Patient/<nhs-number>"),
        ("/practitioners/mw-7/alerts", "/practitioners/mw-7/alerts"),
        ("/practitioners/mw-7/alerts?token=t", "/practitioners/mw-7/alerts?<redacted>"),
        ("/families/fam-1/team", "/families/fam-1/team"),
        ("/health", "/health"),
        ("/x/1234567890", "/x/1234567890"),  # ten digits, not an NHS number: kept
    ],
)
def test_logged_paths_name_nobody(logged: str, expected: str) -> None:
    assert redact_path(logged) == expected


@pytest.mark.parametrize(
    ("raw", "found"),
    [
        (b"PID|1||9434765919^^^NHS^NH||Q^Z", ("9434765919",)),
        (b'{"value": "943 476 5919"}', ("9434765919",)),
        (b"nhs_number\n943-476-5919\n9876543210\n", ("9434765919", "9876543210")),
        (b"94347659190", ()),  # eleven digits: no NHS number in it
        (b"9434765918", ()),  # wrong check digit
        (b"\xff\xfe\x00 not text at all", ()),
    ],
)
def test_nhs_numbers_are_found_in_raw_input(raw: bytes, found: tuple[str, ...]) -> None:
    assert nhs_numbers_in(raw) == found
