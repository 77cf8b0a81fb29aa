"""Oversize input is refused for good before any produce attempt, and kept in parts."""

from __future__ import annotations

import pytest

from hub.ingest.record_limits import (
    MAX_RECORD_BYTES,
    RECORD_OVERHEAD_BYTES,
    RecordTooLargeError,
    check_fits,
    in_parts,
    joined,
)
from hub.quarantine import quarantine_record


@pytest.mark.parametrize(
    ("value_bytes", "fits"),
    [
        (0, True),
        (MAX_RECORD_BYTES - RECORD_OVERHEAD_BYTES - 10, True),  # with the 10-byte key
        (MAX_RECORD_BYTES - RECORD_OVERHEAD_BYTES - 9, False),
        (2 * 1024 * 1024, False),  # an A28 with a 2 MB name
        (19 * 1000 * 1000, False),  # a CSV row of 19 MB
    ],
)
def test_a_record_over_the_limit_is_refused_before_producing(value_bytes: int, fits: bool) -> None:
    if fits:
        check_fits(b"k" * 10, b"v" * value_bytes, {})
    else:
        with pytest.raises(RecordTooLargeError, match="a resend will be refused"):
            check_fits(b"k" * 10, b"v" * value_bytes, {})


def test_headers_count_too() -> None:
    with pytest.raises(RecordTooLargeError):
        check_fits(b"", b"v" * (MAX_RECORD_BYTES - RECORD_OVERHEAD_BYTES), {"hub-channel": b"x"})


@pytest.mark.parametrize("size", [0, 1, 1024, 1025, 5 * 1024 + 3])
def test_input_is_kept_in_parts_that_join_back_to_it(size: int) -> None:
    raw = bytes(i % 251 for i in range(size))
    record = quarantine_record(raw, channel="mllp", reason="too large")
    parts = in_parts(record, size=1024)
    if size <= 1024:
        assert parts == [record]
        return
    assert len(parts) == -(-size // 1024)
    assert all(len(p.raw) <= 1024 for p in parts)
    assert len({p.quarantine_id for p in parts}) == len(parts)
    assert joined(list(reversed(parts))) == raw
    with pytest.raises(ValueError, match="parts"):
        joined(parts[:-1])
    tampered = [parts[0].model_copy(update={"raw": b"x" * len(parts[0].raw)}), *parts[1:]]
    with pytest.raises(ValueError, match="sha256"):
        joined(tampered)
