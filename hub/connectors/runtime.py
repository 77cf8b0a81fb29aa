"""The connector runtime: everything a batch connector does not do.

:func:`~hub.connectors.outcomes.translate` is the pure part (records → events or refusals),
used as is by the dry run (``hub connector test``). :func:`run_extract` is the shell around it
for files and database views: batches (each one :meth:`~hub.ingest.sink.CaseEventSink.publish_many`,
its acknowledgements awaited together), publishing with retries, quarantine of refused records,
the persisted cursor and progress. The HTTP channels (webhooks, CSV upload) use
:func:`~hub.connectors.outcomes.translate` and :func:`deliver`. Message connectors have their
channel's shell instead (the MLLP listener, the ``/fhir`` routes): they answer each input at
once and keep no cursor.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from itertools import islice
from pathlib import Path
from typing import Any, Final, Protocol

from tenacity import (
    AsyncRetrying,
    retry_if_exception_type,
    stop_after_attempt,
    wait_exponential_jitter,
)

from hub.collector import fewer_collections
from hub.connectors.cursors import CursorStore, Seen, Written
from hub.connectors.outcomes import Mapped, Outcome, Refused, translate, translate_one
from hub.connectors.sdk import Connector, ConnectorConfig, InputError, Record, csv_row_type
from hub.erasure.keystore import ErasureInProgressError
from hub.events import CaseEvent, utc_now
from hub.ingest.record_limits import RecordTooLargeError
from hub.ingest.sink import Published
from hub.kafka.publisher import Delivery, PublishError
from hub.quarantine import QuarantineRecord, quarantine_record

# Refusals kept in a report (the rest are counted): a report of a million bad rows stays small.
REPORTED_REFUSALS: Final = 100
DUPLICATE_KEY: Final = "appears twice in the input"
"""The refusal of a row whose key an earlier row of the same run already took."""
# Records whose events are published with one await (one sealing hop, acks awaited together):
# large enough that the per-batch costs vanish, small enough that a resend after a broker
# failure repeats little and memory stays flat.
PUBLISH_BATCH: Final = 500
# Records per batch of an extract run: its cursor lookup, its cursor commit (a sync to disk) and
# its round of acknowledgements are per batch, and a bulk run has no sender waiting on each
# batch; 2,000 rows (a few MiB) still repeat little after a failure.
EXTRACT_BATCH: Final = 2000
_NO_EVENTS: Final[frozenset[str]] = frozenset()


GOLDEN_RECORDED_AT: Final = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)


def golden_output(
    connector: Connector[Any], config: ConnectorConfig, path: Path
) -> list[dict[str, Any]] | dict[str, str]:
    """What a file maps to, as JSON-ready data: per record its events or its refusal (or the
    reason the whole input is unusable). Golden files are this, written down."""
    outcomes: list[dict[str, Any]] = []
    try:
        with path.open("rb") as stream:
            records = connector.read_with(stream, path.name, config)
            for outcome in translate(connector, config, records, GOLDEN_RECORDED_AT):
                where = outcome.record.location
                if isinstance(outcome, Mapped):
                    events = [event.model_dump(mode="json") for event in outcome.events]
                    outcomes.append({"at": where, "events": events})
                else:
                    outcomes.append({"at": where, "refused": [list(i) for i in outcome.issues]})
    except InputError as error:
        return {"input_error": str(error)}
    return outcomes


class Sink(Protocol):
    """What the runtime needs of :class:`hub.ingest.sink.CaseEventSink`."""

    async def publish_many(self, events: Sequence[CaseEvent]) -> list[Published]: ...

    async def quarantine(self, record: QuarantineRecord) -> Delivery: ...


def refusal_record(refused: Refused, *, channel: str, system: str) -> QuarantineRecord:
    """The refused record kept with what reads its raw bytes again on their own (a CSV row's
    columns, a webhook's id), so the error queue can replay it (ADR 0030)."""
    record = refused.record
    content_type = record.content_type or (csv_row_type(record.header) if record.header else None)
    return quarantine_record(
        record.raw,
        channel=channel,
        reason=f"{record.location}: refused by the {system} connector",
        errors=refused.issues,
        source_system=system,
        content_type=content_type,
    )


async def deliver(
    sink: Sink,
    outcomes: Sequence[Outcome],
    *,
    channel: str,
    system: str,
    attempts: int = 1,
    batch_size: int = PUBLISH_BATCH,
) -> list[Outcome]:
    """Publish every mapped event and quarantine every refusal; return when all are
    acknowledged (raising :class:`PublishError` if any write failed after ``attempts``).

    ``batch_size`` records at a time: their events go as one
    :meth:`~hub.ingest.sink.CaseEventSink.publish_many` — one thread hop to seal, every
    acknowledgement awaited together — then their refusals to quarantine, concurrently. A
    sender is answered after the last batch, so its 2xx still means every event is in Kafka.

    Returns the outcomes as delivered: a record whose event can never be one Kafka record
    (:class:`~hub.ingest.record_limits.RecordTooLargeError`, decided before producing) comes back
    refused, its raw input quarantined — a permanent refusal, not "send again later" — and the
    batch's other records are delivered all the same."""
    delivered: list[Outcome] = []
    for start in range(0, len(outcomes), batch_size):
        batch = outcomes[start : start + batch_size]
        delivered.extend(await _deliver_batch(sink, batch, channel, system, attempts))
    return delivered


def published_events(outcomes: Iterable[Outcome]) -> int:
    return sum(len(o.events) for o in outcomes if isinstance(o, Mapped))


async def _deliver_batch(
    sink: Sink, outcomes: Sequence[Outcome], channel: str, system: str, attempts: int
) -> list[Outcome]:
    events = [event for o in outcomes if isinstance(o, Mapped) for event in o.events]
    results = iter(await _publish_all(sink, events, attempts))
    delivered: list[Outcome] = []
    for outcome in outcomes:
        if isinstance(outcome, Mapped):
            mine = [next(results) for _ in outcome.events]
            too_large = [r for r in mine if isinstance(r, RecordTooLargeError)]
            if too_large:  # the record's other events may be written: ids make a resend safe
                outcome = Refused(outcome.record, (("record", str(too_large[0])),))
        delivered.append(outcome)
    refusals = [
        refusal_record(outcome, channel=channel, system=system)
        for outcome in delivered
        if isinstance(outcome, Refused)
    ]
    # Every write settles before a failure is raised: no acknowledgement is left in flight
    # for a caller that has stopped waiting.
    written = await asyncio.gather(
        *(_with_retries(_bind(sink.quarantine, record), attempts) for record in refusals),
        return_exceptions=True,
    )
    failures = [result for result in written if isinstance(result, BaseException)]
    if failures:
        raise failures[0]
    return delivered


async def _publish_all(
    sink: Sink, events: Sequence[CaseEvent], attempts: int
) -> list[Delivery | RecordTooLargeError]:
    """Each event's delivery or permanent refusal, publishing in one batch per attempt what is
    not yet confirmed: the whole batch after a broker failure (ids are deterministic), only the
    events refused for a person's erasure in progress otherwise."""
    outcomes: dict[int, Published] = {}
    pending = list(range(len(events)))

    async def attempt_once() -> None:
        nonlocal pending
        results = await sink.publish_many([events[at] for at in pending])
        outcomes.update(zip(pending, results, strict=True))
        erasing = [
            o for o in map(outcomes.__getitem__, pending) if isinstance(o, ErasureInProgressError)
        ]
        pending = [at for at in pending if isinstance(outcomes[at], ErasureInProgressError)]
        if erasing:
            raise erasing[0]  # a PublishError: retried, else the caller's 503 / AR

    if events:
        await _with_retries(attempt_once, attempts)
    done: list[Delivery | RecordTooLargeError] = []
    for at in range(len(events)):
        outcome = outcomes[at]
        assert not isinstance(outcome, ErasureInProgressError)  # raised above
        done.append(outcome)
    return done


def _bind(function: Callable[[Any], Any], argument: Any) -> Callable[[], Any]:
    return lambda: function(argument)


async def _with_retries(write: Callable[[], Any], attempts: int) -> None:
    retrying = AsyncRetrying(
        retry=retry_if_exception_type(PublishError),
        stop=stop_after_attempt(attempts),
        wait=wait_exponential_jitter(max=30),
        reraise=True,
    )
    async for attempt in retrying:
        with attempt:
            await write()


@dataclass
class ExtractReport:
    """What one run of an extract did."""

    run_id: str
    records: int = 0
    published: int = 0
    unchanged: int = 0
    changed: int = 0
    refused: int = 0
    refusals: list[Refused] = field(default_factory=list)
    disappeared: list[str] = field(default_factory=list)

    def refuse(self, refused: Refused) -> Refused:
        """Count a refusal; keep the first :data:`REPORTED_REFUSALS` for the report."""
        self.refused += 1
        if len(self.refusals) < REPORTED_REFUSALS:
            self.refusals.append(refused)
        return refused


async def run_extract(
    connector: Connector[Any],
    config: ConnectorConfig,
    records: Iterable[Record],
    *,
    extract: str,
    input_name: str,
    sink: Sink,
    cursors: CursorStore,
    batch_size: int = EXTRACT_BATCH,
    attempts: int = 5,
    progress: Callable[[int], None] | None = None,
) -> ExtractReport:
    """Publish what is new or changed in an extract and report what disappeared.

    Records stream through in batches, so memory does not grow with the file. Each batch's
    events are published together (:func:`deliver`: one await for all their acknowledgements)
    and its refusals quarantined before its cursor rows are committed, so the cursor moves only
    past rows whose events Kafka confirmed; a run that fails mid-batch commits nothing of that
    batch and the next run publishes it again (same ids).

    The next batch is read, looked up in the cursor and mapped on a worker thread while this
    one is published and its acknowledgements awaited (ADR 0041): ``records`` is consumed
    there, one batch at a time and never by two threads at once, so a database view's
    connection is used by one thread at a time. A row the cursor holds unchanged is not mapped
    again (what it published stands). What a batch decides against the cursor is decided once
    the batch before it has committed.
    """
    run_id = cursors.start(extract, input_name)
    report = ExtractReport(run_id)
    recorded_at = utc_now()
    source = iter(records)

    def read_ahead(in_flight: frozenset[str]) -> _Read | None:
        batch = list(islice(source, batch_size))
        if not batch:
            return None
        known = cursors.lookup(extract, (record.key for record in batch))
        digests = [record.digest() for record in batch]
        outcomes: list[Outcome | None] = []
        for record, digest in zip(batch, digests, strict=True):
            before = known.get(record.key)
            if (
                before is not None
                and before.digest == digest
                and before.seen_run != run_id
                and record.key not in in_flight  # its row may change when that batch commits
            ):
                outcomes.append(None)  # unchanged: not mapped again
            else:
                outcomes.append(translate_one(connector, config, record, recorded_at))
        return _Read(batch, digests, known, outcomes)

    with fewer_collections():
        read = read_ahead(frozenset())
        committed: frozenset[str] = frozenset()
        while read is not None:
            keys = frozenset(record.key for record in read.records)
            upcoming = asyncio.ensure_future(asyncio.to_thread(read_ahead, keys))
            try:
                committed = await _run_batch(
                    read, committed, extract, run_id, config, sink, cursors, attempts, report
                )
            except BaseException:
                # The reader is not cancellable: let it finish before the caller closes its input.
                await asyncio.gather(upcoming, return_exceptions=True)
                raise
            if progress is not None:
                progress(len(read.records))
            read = await upcoming
    report.disappeared = cursors.finish(
        extract, run_id, records=report.records, published=report.published
    )
    return report


@dataclass(frozen=True, slots=True)
class _Read:
    """A batch as read ahead: its records, their digests, the cursor's rows for their keys (read
    before the batch in flight committed) and each outcome, None for a row the cursor holds
    unchanged (not mapped)."""

    records: list[Record]
    digests: list[str]
    known: dict[str, Seen]
    outcomes: list[Outcome | None]


async def _run_batch(
    read: _Read,
    committed: frozenset[str],
    extract: str,
    run_id: str,
    config: ConnectorConfig,
    sink: Sink,
    cursors: CursorStore,
    attempts: int,
    report: ExtractReport,
) -> frozenset[str]:
    """Publish one batch and commit its cursor rows; the keys it committed. ``committed`` is the
    keys of the batch before, whose commit this batch's cursor rows were read before: this run
    has seen them, as the cursor says of them now."""
    to_send: list[Outcome] = []
    written: dict[str, Written] = {}
    seen: list[str] = []
    for record, digest, outcome in zip(read.records, read.digests, read.outcomes, strict=True):
        report.records += 1
        key = record.key
        before = read.known.get(key)
        this_run = key in committed or (before is not None and before.seen_run == run_id)
        if isinstance(outcome, Refused):
            if before is not None or this_run:  # still in the source, only now unreadable:
                seen.append(key)  # not "disappeared"; its last events stand
            to_send.append(report.refuse(outcome))
            continue
        if key in written or this_run:
            duplicate = Refused(record, (("key", f"{key!r} {DUPLICATE_KEY}"),))
            to_send.append(report.refuse(duplicate))
            continue
        if outcome is None or (before is not None and before.digest == digest):
            report.unchanged += 1
            seen.append(key)
            continue
        if before is not None:
            report.changed += 1
        if outcome.events:
            ids = [str(e.event_id) for e in outcome.events]
            old_ids = before.event_ids if before is not None else _NO_EVENTS
            new_events = tuple(
                e for e, i in zip(outcome.events, ids, strict=True) if i not in old_ids
            )
            if new_events:  # a row with nothing to publish has nothing to deliver
                to_send.append(Mapped(record, new_events))
            written[key] = Written(key, digest, frozenset(ids), replaces=before is not None)
        else:  # most rows of an extract: no event, nothing to deliver, the same empty ids
            written[key] = Written(key, digest, _NO_EVENTS, replaces=before is not None)
    delivered = await deliver(
        sink,
        to_send,
        channel="extract",
        system=config.system,
        attempts=attempts,
        batch_size=max(len(to_send), 1),  # the cursor's batch is the publishing batch
    )
    report.published += published_events(delivered)
    for sent, outcome in zip(to_send, delivered, strict=True):
        if isinstance(sent, Mapped) and isinstance(outcome, Refused):  # too large, for good
            written.pop(outcome.record.key, None)  # not "unchanged" next run: refused again
            report.refuse(outcome)
    cursors.commit(extract, run_id, list(written.values()), seen)
    return frozenset(written) | frozenset(seen)
