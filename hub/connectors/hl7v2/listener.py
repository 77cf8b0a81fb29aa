"""The MLLP listener: the HL7 v2 connector's channel, the thin shell around read -> map ->
publish -> acknowledge.

Framing is python-hl7's asyncio MLLP support. Per connection, messages are handled one after
another (order is kept); connections proceed concurrently, sharing no lock and no step they
would queue behind. The events of messages that arrive on different connections at nearly the
same moment are sealed in one thread hop and published as one batch — a group commit
(:class:`~hub.ingest.group_commit.GroupCommit`, ADR 0028: ``HUB_MLLP_GROUP_WINDOW_MS``,
``HUB_MLLP_GROUP_MAX_EVENTS``) — and a group held up by the key store or the broker holds up
only the senders in it, never the next group. Each message is acknowledged only once its fate
is durable:

* ``AA`` after every event it stands for is in Kafka (the delivery report confirmed it, and
  that of every other event of its group);
* ``AE`` / ``AR`` after the raw message is in the quarantine topic with the reason;
* ``AR`` with error 207 when Kafka did not confirm either write: nothing was accepted and the
  sender must resend.

Bytes that are not MLLP-framed cannot be answered in HL7 (there is no message to echo), so the
connection is closed; the listener itself keeps serving other connections.

Every wait is bounded: a connection on which no complete message arrives within
``HUB_MLLP_IDLE_TIMEOUT_SECONDS`` (of opening, or of the previous acknowledgement) is closed —
a sender that opened a block and stopped, or trickles a byte at a time, holds nothing for
ever — and one source address holds at most ``HUB_MLLP_MAX_CONNECTIONS_PER_ADDRESS``
connections; the ones beyond are closed at once. An interface engine reconnects to send.

One listener process parses on one core (python-hl7 is pure Python). With
``HUB_MLLP_PROCESSES`` above 1 each ``hub mllp`` binds its port with ``SO_REUSEPORT`` (Linux),
so that many processes share it and the kernel spreads new connections over them (ADR 0042);
``hub run`` starts that many. Each has its own producer, key-store connections and group
commits; a connection stays with the process that accepted it, so its order is kept, and the
per-address cap is each process's.
"""

from __future__ import annotations

import asyncio
import logging
import signal
from collections import Counter
from typing import Final, Literal

import hl7
from hl7.mllp import InvalidBlockError, start_hl7_server

from hub.connectors.hl7v2.ack import build_ack
from hub.connectors.hl7v2.connector import HL7V2, acknowledgement, hl7_refusal
from hub.connectors.hl7v2.mapping import APPLICATION_INTERNAL_ERROR, DATA_TYPE_ERROR, Hl7RecordError
from hub.connectors.hl7v2.reading import Hl7Problem, charset, value
from hub.connectors.messages import Received, map_message, message_record, read_message
from hub.connectors.outcomes import Mapped, Refused
from hub.connectors.sdk import Record
from hub.connectors.sources import SourceRegistry, load_sources
from hub.events import utc_now
from hub.ingest.group_commit import GroupCommit
from hub.ingest.record_limits import RecordTooLargeError
from hub.ingest.sink import CaseEventSink
from hub.kafka.publisher import PublishError
from hub.quarantine import quarantine_record
from hub.settings import Settings

log = logging.getLogger(__name__)
MAX_MESSAGE_BYTES = 4 * 1024 * 1024
CHANNEL: Final = "mllp"


def receive(raw: bytes, sources: SourceRegistry) -> Received[hl7.Message]:
    """Pure: bytes of one MLLP block -> parsed message and outcome."""
    record = message_record(raw, CHANNEL)
    message = read_message(HL7V2, record)
    if isinstance(message, Refused):
        return Received(None, message)
    try:
        return Received(message, map_message(HL7V2, record, message, sources, utc_now()))
    except Exception as error:  # a mapping bug must still get an answer, never a silent drop
        log.exception("HL7 mapping failed")
        problem = Hl7Problem("MSH", 0, f"internal error: {error}", APPLICATION_INTERNAL_ERROR)
        return Received(message, _refused(record, "AR", problem))


class MllpListener:
    def __init__(
        self,
        sink: CaseEventSink,
        sources: SourceRegistry,
        host: str,
        port: int,
        *,
        idle_timeout_s: float = 120.0,
        max_per_address: int = 20,
        group_window_s: float = 0.002,
        group_max_events: int = 500,
        reuse_port: bool = False,
    ) -> None:
        self._sink = sink
        self._group = GroupCommit(
            sink.publish_many, window_s=group_window_s, max_events=group_max_events
        )
        self._sources = sources
        self._host = host
        self._port = port
        self._idle_timeout_s = idle_timeout_s
        self._max_per_address = max_per_address
        self._reuse_port = reuse_port
        self._open: Counter[str] = Counter()  # connections per source address
        self._server: asyncio.Server | None = None

    @property
    def group_commit(self) -> GroupCommit:
        return self._group

    @property
    def port(self) -> int:
        if self._server is None or not self._server.sockets:
            return self._port
        port: int = self._server.sockets[0].getsockname()[1]
        return port

    async def start(self) -> None:
        # SO_REUSEPORT only when asked (HUB_MLLP_PROCESSES > 1): otherwise a second listener
        # started by mistake on the port fails to bind instead of silently taking a share of
        # the connections.
        self._server = await start_hl7_server(
            self._serve,
            self._host,
            self._port,
            limit=MAX_MESSAGE_BYTES,
            reuse_port=self._reuse_port or None,
        )
        log.info("MLLP listening on %s:%d", self._host, self.port)

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
        await self._group.aclose()

    async def handle(self, raw: bytes) -> bytes:
        """The acknowledgement for one message, after its fate is durable."""
        received = receive(raw, self._sources)
        outcome = received.outcome
        if isinstance(outcome, Mapped):
            outcome = await self._publish(outcome)
        if isinstance(outcome, Refused):
            refusal = hl7_refusal(outcome)
            if refusal.problems[0].code != APPLICATION_INTERNAL_ERROR:
                record = quarantine_record(
                    raw,
                    channel=CHANNEL,
                    reason=f"HL7 {refusal.code}: {refusal}",
                    errors=refusal.issues,
                    source_system=_sender(received.message),
                    content_type="application/hl7-v2",
                )
                try:
                    await self._sink.quarantine(record)
                except PublishError as error:
                    outcome = _not_stored(outcome.record, error)
        code, problems = acknowledgement(outcome)
        return build_ack(received.message, code, problems).encode(charset(raw), "replace")

    async def _publish(self, outcome: Mapped) -> Mapped | Refused:
        """The message's events in a group commit: sealed in one hop with the group's, their
        acks awaited together (never one ack per event). Too large for a Kafka record: AE, for
        good; not confirmed, or about a person being erased: AR, send again (ids are
        deterministic)."""
        try:
            results = await self._group.publish_many(outcome.events)
        except PublishError as error:
            return _not_stored(outcome.record, error)
        for result in results:
            if isinstance(result, RecordTooLargeError):  # decided before producing: for good
                problem = Hl7Problem("MSH", 0, str(result), DATA_TYPE_ERROR)
                return _refused(outcome.record, "AE", problem)
        for result in results:
            if isinstance(result, PublishError):
                return _not_stored(outcome.record, result)
        return outcome

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        peer = writer.get_extra_info("peername")
        address = str(peer[0]) if isinstance(peer, tuple) else str(peer)
        if self._open[address] >= self._max_per_address:
            log.warning(
                "refusing an MLLP connection from %s: it has %d open already",
                address,
                self._open[address],
            )
            writer.close()
            return
        self._open[address] += 1
        try:
            while True:
                try:
                    # A deadline on this task, not wait_for's task per message.
                    async with asyncio.timeout(self._idle_timeout_s):
                        raw: bytes = await reader.readblock()  # type: ignore[attr-defined]
                except TimeoutError:
                    log.info(
                        "closing MLLP connection from %s: no message for %s s",
                        peer,
                        self._idle_timeout_s,
                    )
                    return
                except (asyncio.IncompleteReadError, ConnectionError):
                    return  # the sender closed the connection
                except (InvalidBlockError, ValueError) as error:
                    log.warning("closing MLLP connection from %s: %s", peer, error)
                    return
                ack = await self.handle(raw)
                writer.writeblock(ack)  # type: ignore[attr-defined]
                await writer.drain()
        finally:
            self._open[address] -= 1
            if not self._open[address]:
                del self._open[address]
            writer.close()


def _refused(record: Record, code: Literal["AE", "AR"], problem: Hl7Problem) -> Refused:
    return Refused.of(record, Hl7RecordError(code, (problem,)))


def _not_stored(record: Record, error: PublishError) -> Refused:
    """Kafka did not confirm: refuse so that the sender keeps the message and resends it."""
    message = f"not stored, send again later: {error}"
    return _refused(record, "AR", Hl7Problem("MSH", 0, message, APPLICATION_INTERNAL_ERROR))


def serve(settings: Settings, sink: CaseEventSink) -> None:
    """Run the listener until SIGINT/SIGTERM (blocking): ``hub mllp``, which gives it the sink
    from the composition root (:func:`hub.bootstrap.publishing`) and closes that afterwards."""
    sources = load_sources(settings.sources_dir) if settings.sources_dir else load_sources()

    async def main() -> None:
        listener = MllpListener(
            sink,
            sources,
            settings.mllp_host,
            settings.mllp_port,
            idle_timeout_s=settings.mllp_idle_timeout_seconds,
            max_per_address=settings.mllp_max_connections_per_address,
            group_window_s=settings.mllp_group_window_ms / 1000,
            group_max_events=settings.mllp_group_max_events,
            reuse_port=settings.mllp_processes > 1,
        )
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, stop.set)
        await listener.start()
        shared = (
            f", one of {settings.mllp_processes} processes on the port"
            if settings.mllp_processes > 1
            else ""
        )
        print(
            f"MLLP listening on {settings.mllp_host}:{listener.port} "
            f"({len(sources)} sending facilities configured{shared})",
            flush=True,
        )
        try:
            await stop.wait()
        finally:
            await listener.stop()

    asyncio.run(main())


def _sender(message: hl7.Message | None) -> str | None:
    if message is None:
        return None
    msh = message.segment("MSH")
    return f"{value(msh, 3, 1, 1)}@{value(msh, 4, 1, 1)}"
