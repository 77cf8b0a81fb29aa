"""What fits in one Kafka record, decided before anything is produced (issue 17, point 4).

librdkafka refuses a message over ``message.max.bytes`` (1,000,000 by default, counted before
compression) and the broker one over its own limit. That refusal used to come back from the
produce attempt as a :class:`~hub.kafka.publisher.PublishError`, which every connector rightly
answers "not stored, send again later" — so a sender resent the same oversize message for
ever, its queue blocked behind it, and nothing was quarantined. Size is a property of the
input, not of the broker's health: the sink measures every record against
:data:`MAX_RECORD_BYTES` *before* producing and raises :class:`RecordTooLargeError`, which the
connectors answer as a permanent refusal (HL7 AE, HTTP 422), and the raw input is quarantined
in parts (:func:`in_parts`) so that nothing refused is lost.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from typing import Final

from hub.events import deterministic_event_id
from hub.quarantine import QuarantineError, QuarantineRecord

# librdkafka's default message.max.bytes; a record's framing (batch header, lengths, header
# names) is counted generously in RECORD_OVERHEAD_BYTES.
MAX_RECORD_BYTES: Final = 1_000_000
RECORD_OVERHEAD_BYTES: Final = 1_024
# Quarantine parts leave room for the record around them (ids, reason, errors, sealing).
PART_BYTES: Final = 512 * 1024


class RecordTooLargeError(ValueError):
    """Input that can never be one Kafka record: refuse it for good, never "send again later"."""

    def __init__(self, size: int, limit: int = MAX_RECORD_BYTES) -> None:
        super().__init__(
            f"the record would be {size:,} bytes; the hub stores at most {limit:,} bytes per "
            "record: send it smaller (a resend will be refused the same way)"
        )
        self.size, self.limit = size, limit


def record_size(key: bytes, value: bytes, headers: Mapping[str, bytes]) -> int:
    """The bytes a record counts against the limit (pure)."""
    header_bytes = sum(len(name.encode()) + len(data) for name, data in headers.items())
    return len(key) + len(value) + header_bytes + RECORD_OVERHEAD_BYTES


def check_fits(
    key: bytes, value: bytes, headers: Mapping[str, bytes], limit: int = MAX_RECORD_BYTES
) -> None:
    """Raise :class:`RecordTooLargeError` unless the record fits (pure)."""
    size = record_size(key, value, headers)
    if size > limit:
        raise RecordTooLargeError(size, limit)


def in_parts(record: QuarantineRecord, size: int = PART_BYTES) -> list[QuarantineRecord]:
    """A quarantine record whose raw input is too large for one Kafka record, as several.

    Each part carries ``size`` bytes of the input in order, its own id, and an error entry
    ``part``: "i of n of N bytes, sha256 <hex of the whole input>", by which the input is put
    back together (:func:`joined`) and checked. A record that fits is returned as it is.
    """
    if len(record.raw) <= size:
        return [record]
    digest = hashlib.sha256(record.raw).hexdigest()
    pieces = [record.raw[i : i + size] for i in range(0, len(record.raw), size)]
    return [
        record.model_copy(
            update={
                "quarantine_id": deterministic_event_id("quarantine-part", digest, str(n)),
                "raw": piece,
                "errors": (
                    *record.errors,
                    QuarantineError(
                        location="part",
                        message=f"{n} of {len(pieces)} of {len(record.raw)} bytes, sha256 {digest}",
                    ),
                ),
            }
        )
        for n, piece in enumerate(pieces, 1)
    ]


def joined(parts: list[QuarantineRecord]) -> bytes:
    """The input the parts of :func:`in_parts` came from, checked against its digest."""
    ordered = sorted(parts, key=lambda part: _part_of(part)[0])
    _, count, total, digest = _part_of(ordered[0])
    raw = b"".join(p.raw for p in ordered)
    if len(ordered) != count or len(raw) != total:
        raise ValueError(f"{len(ordered)} of {count} parts, {len(raw)} of {total} bytes")
    if hashlib.sha256(raw).hexdigest() != digest:
        raise ValueError("the parts do not make the input they were cut from (sha256 differs)")
    return raw


def _part_of(record: QuarantineRecord) -> tuple[int, int, int, str]:
    """(part, parts, input bytes, sha256) from a part's ``part`` error entry."""
    message = next(e.message for e in record.errors if e.location == "part")
    number, _, count, _, total, _, _, digest = message.split(" ")
    return int(number), int(count), int(total), digest
