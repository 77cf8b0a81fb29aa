"""The hub's one producer path: confluent-kafka, ``acks=all``, idempotence on.

Connectors answer a sender ("accepted", ``AA``, ``201``) only after :meth:`KafkaPublisher.publish`
returns, which is after the broker's delivery report confirmed the write on all in-sync
replicas. A failed or timed-out write raises :class:`PublishError`, which the connector turns
into a refusal the sender can retry (5xx, ``AE``/``AR``), so acknowledged data is never lost.

Delivery reports reach the waiting event loop once per ``poll`` of the delivery thread, all that
poll served in one hand-over (ADR 0046): one wake-up of the loop for a batch of records, where
one per record cost the MLLP listener a self-pipe write and an event-loop turn each.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Coroutine, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from confluent_kafka import KafkaError, Message, Producer


class PublishError(RuntimeError):
    """The broker did not confirm a write; the sender must not be told it was accepted."""


@dataclass(frozen=True)
class Delivery:
    """Where the broker durably stored a record."""

    topic: str
    partition: int
    offset: int


# One record to write: its key, its value (None: a tombstone) and its headers.
Record = tuple[bytes | None, bytes | None, Mapping[str, bytes] | None]

# A delivery report waiting to be handed to the loop whose caller awaits it.
_Report = tuple[asyncio.Future["Delivery"], KafkaError | None, Message]


def producer_config(bootstrap_servers: str, *, client_id: str, timeout_s: float) -> dict[str, Any]:
    """Durability settings shared by every producer in the hub (see ADR 0004)."""
    return {
        "bootstrap.servers": bootstrap_servers,
        "client.id": client_id,
        "acks": "all",
        "enable.idempotence": True,
        "linger.ms": 0,  # a sender waits for each ack: latency beats batching here
        "compression.type": "lz4",
        "delivery.timeout.ms": int(timeout_s * 1000),
        "message.timeout.ms": int(timeout_s * 1000),
    }


class KafkaPublisher:
    """Async-friendly durable writes; a background thread serves delivery reports."""

    def __init__(
        self,
        bootstrap_servers: str,
        *,
        client_id: str = "think-family-hub",
        timeout_s: float = 15.0,
        extra_config: Mapping[str, Any] | None = None,
    ) -> None:
        config = producer_config(bootstrap_servers, client_id=client_id, timeout_s=timeout_s)
        config.update(extra_config or {})
        self._producer = Producer(config)
        self._timeout_s = timeout_s
        # Reports served by a poll (or a flush), per loop, until handed over together.
        self._reports: dict[asyncio.AbstractEventLoop, list[_Report]] = {}
        self._reports_lock = threading.Lock()
        self._closed = threading.Event()
        self._poller = threading.Thread(target=self._poll, name="kafka-delivery", daemon=True)
        self._poller.start()

    def _poll(self) -> None:
        while not self._closed.is_set():
            self._producer.poll(0.1)
            self._hand_over()

    def _on_delivery(
        self, loop: asyncio.AbstractEventLoop, future: asyncio.Future[Delivery]
    ) -> Any:
        """The delivery callback of one record awaited on ``loop``: kept until the poll that
        serves it has served every report it can (:meth:`_hand_over`)."""

        def on_delivery(error: KafkaError | None, message: Message) -> None:
            with self._reports_lock:
                self._reports.setdefault(loop, []).append((future, error, message))

        return on_delivery

    def _hand_over(self) -> None:
        """Every report kept so far to its loop, in one ``call_soon_threadsafe`` per loop."""
        if not self._reports:
            return
        with self._reports_lock:
            reports, self._reports = self._reports, {}
        for loop, settled in reports.items():
            # The caller's loop may be gone (it stopped waiting); the reports have no reader.
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(_settle_all, settled)

    async def publish(
        self,
        topic: str,
        key: bytes | None,
        value: bytes | None,
        headers: Mapping[str, bytes] | None = None,
    ) -> Delivery:
        """Write one record (``value`` None: a tombstone, for compacted topics) and wait for the
        broker's confirmation."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Delivery] = loop.create_future()
        await self._produce(topic, key, value, headers, self._on_delivery(loop, future))
        try:
            # The producer's own delivery.timeout.ms fires first; this is a backstop.
            return await asyncio.wait_for(future, self._timeout_s + 5)
        except TimeoutError as error:
            raise PublishError(f"no delivery report from Kafka for {topic} in time") from error

    async def publish_many(self, topic: str, records: Sequence[Record]) -> list[Delivery]:
        """Write many records of one topic and wait for every confirmation together: one round
        of acknowledgements per batch instead of one per record (issue 19). In order per key
        (idempotence keeps a partition's order across retries). Raises the first
        :class:`PublishError` once every report is in; records confirmed before it stay
        written, so a caller that retries the batch relies on deterministic ids, as a sender
        resending does."""
        return await (await self.produce_many(topic, records))

    async def produce_many(
        self, topic: str, records: Sequence[Record]
    ) -> Coroutine[Any, Any, list[Delivery]]:
        """:meth:`publish_many` in two halves: hand ``records`` to the producer now (in order)
        and return what waits for their confirmations, so a caller producing several batches in
        turn (the person index's parts) waits once for all of them. The returned coroutine
        must be awaited (it raises as :meth:`publish_many` does)."""
        loop = asyncio.get_running_loop()
        futures: list[asyncio.Future[Delivery]] = []
        for key, value, headers in records:
            future: asyncio.Future[Delivery] = loop.create_future()
            await self._produce(topic, key, value, headers, self._on_delivery(loop, future))
            futures.append(future)
        return self._confirmed(topic, futures)

    async def _confirmed(
        self, topic: str, futures: Sequence[asyncio.Future[Delivery]]
    ) -> list[Delivery]:
        try:
            outcomes = await asyncio.wait_for(
                asyncio.gather(*futures, return_exceptions=True), self._timeout_s + 5
            )
        except TimeoutError as error:
            raise PublishError(f"no delivery report from Kafka for {topic} in time") from error
        deliveries: list[Delivery] = []
        for outcome in outcomes:
            if isinstance(outcome, BaseException):
                raise outcome
            deliveries.append(outcome)
        return deliveries

    def publish_sync(
        self,
        topic: str,
        key: bytes | None,
        value: bytes,
        headers: Mapping[str, bytes] | None = None,
    ) -> Delivery:
        """Blocking variant for the CLI and demo loader."""
        result: list[Delivery | PublishError] = []
        done = threading.Event()

        def on_delivery(error: KafkaError | None, message: Message) -> None:
            result.append(_outcome(error, message))
            done.set()

        self._producer.produce(
            topic, value=value, key=key, headers=dict(headers or {}), on_delivery=on_delivery
        )
        if not done.wait(self._timeout_s + 5):
            raise PublishError(f"no delivery report from Kafka for {topic} in time")
        outcome = result[0]
        if isinstance(outcome, PublishError):
            raise outcome
        return outcome

    async def _produce(
        self,
        topic: str,
        key: bytes | None,
        value: bytes | None,
        headers: Mapping[str, bytes] | None,
        on_delivery: Any,
    ) -> None:
        while True:
            try:
                self._producer.produce(
                    topic,
                    value=value,
                    key=key,
                    headers=dict(headers or {}),
                    on_delivery=on_delivery,
                )
                return
            except BufferError:  # local queue full: let the poller drain it
                await asyncio.sleep(0.05)
            except Exception as error:  # KafkaException for unknown topics, bad config, ...
                raise PublishError(f"Kafka refused the write to {topic}: {error}") from error

    def close(self, timeout_s: float = 10.0) -> None:
        """Flush what is queued, stop the delivery thread, then end the client. A librdkafka
        client only flushed lives on until it is garbage-collected, reconnecting (and logging
        "Connection refused") to a broker that may be long gone."""
        if self._closed.is_set():
            return
        self._producer.flush(timeout_s)  # serves the last reports on this thread
        self._closed.set()
        self._poller.join(timeout_s)
        self._hand_over()
        self._producer.close()


def _outcome(error: KafkaError | None, message: Message) -> Delivery | PublishError:
    if error is not None:
        return PublishError(f"Kafka did not store the record: {error.str()}")
    partition, offset = message.partition(), message.offset()
    if partition is None or offset is None:  # never for a delivered message; be explicit
        return PublishError("Kafka reported a delivery without a partition or offset")
    return Delivery(topic=message.topic() or "", partition=partition, offset=offset)


def _settle_all(reports: list[_Report]) -> None:
    for future, error, message in reports:
        _settle(future, error, message)


def _settle(future: asyncio.Future[Delivery], error: KafkaError | None, message: Message) -> None:
    if future.done():
        return
    outcome = _outcome(error, message)
    if isinstance(outcome, PublishError):
        future.set_exception(outcome)
    else:
        future.set_result(outcome)
