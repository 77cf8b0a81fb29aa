"""The worker's two stages under a confluent-kafka group loop instead of Faust (ADR 0005's
proposal, measured): ``python -m benchmarks.kafka_loop_worker``, settings from the environment
as ``hub worker`` takes them.

The same runners as :func:`hub.processes.worker.create_app` builds for the case-event and family
topics (the person index forwarding to the family topic; alerts, team, outcomes, sharing facts,
the key store's erasure step), fed by one consumer-group member: ``consume(num_messages=…)``
batches, cut and ordered by :func:`hub.processes.worker.by_partition` as the Faust agent cuts
them, handed to :meth:`ProjectionRunner.handle_parts`, the group's offsets committed after each
batch. Each partition resumes at its projections' lowest stored position (ADR 0004). No timers,
side topics or webhooks: a measure of the runtime's cost, not a worker to run.
"""

from __future__ import annotations

import asyncio
import signal
from typing import Any

from confluent_kafka import OFFSET_BEGINNING, Consumer, Message, TopicPartition

from hub.bootstrap import build_hub
from hub.identity.routing import may_rekey_others
from hub.processes.worker import Received, by_partition, stage_runners
from hub.projections.registry import PROJECTIONS, runner_applies
from hub.projections.resume import stored_positions, stored_projections
from hub.settings import Settings


def main() -> None:
    settings = Settings()
    hub = build_hub(settings, client_id=f"{settings.worker_group}-producer")
    hub.keys.create_schema()
    stages = stage_runners(hub, settings, runner_applies(hub, PROJECTIONS))
    runners = {
        settings.case_events_topic: stages.case_events,
        settings.family_events_topic: stages.family_events,
    }
    stored = stored_projections(settings)
    engine = hub.alerts.engine

    def resume(consumer: Consumer, partitions: list[TopicPartition]) -> None:
        for tp in partitions:
            held = stored_positions(engine, stored[tp.topic], tp.topic, [tp.partition])
            known = [p for p in held[tp.partition] if p is not None]
            lowest = min(known) if len(known) == len(held[tp.partition]) and known else None
            tp.offset = OFFSET_BEGINNING if lowest is None else lowest
        consumer.assign(partitions)

    most, within_s = settings.worker_batch_max, settings.batch_within_s()
    stopping = False

    def stop(*_: Any) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)

    def member(topic: str) -> Consumer:
        consumer = Consumer(
            {
                "bootstrap.servers": settings.bootstrap_servers(),
                "group.id": f"{settings.worker_group}-{topic}",
                "enable.auto.commit": False,
                "auto.offset.reset": "earliest",
            }
        )
        consumer.subscribe([topic], on_assign=resume)
        return consumer

    async def stage(topic: str) -> None:
        """One stage, as one Faust agent: its batches in turn, the next read while it waits."""
        consumer, runner = member(topic), runners[topic]
        cuts = topic == settings.case_events_topic
        try:
            while not stopping:
                messages = await asyncio.to_thread(consumer.consume, most, within_s)
                batch = [r for m in messages if (r := _received(m, topic, cuts)) is not None]
                if batch:
                    parts = by_partition(batch)
                    await runner.handle_parts(
                        topic, [(partition, run) for (_, partition), run in parts]
                    )
                    consumer.commit(asynchronous=True)
        finally:
            consumer.close()

    async def both() -> None:
        await asyncio.gather(*(stage(topic) for topic in runners))

    try:
        asyncio.run(both())
    finally:
        hub.close()


def _received(message: Message, topic: str, cuts: bool) -> Received | None:
    """A message as the worker's agents hand it on; None for an error event."""
    partition, offset = message.partition(), message.offset()
    if message.error() is not None or partition is None or offset is None:
        return None
    kind = dict(message.headers() or ()).get("hub-event-type") if cuts else None
    cut = cuts and may_rekey_others(kind if isinstance(kind, bytes) else None)
    return Received(topic, partition, offset, message.value() or b"", message.key(), cut)


if __name__ == "__main__":
    main()
