"""The ports of the projection shell: what :class:`hub.projections.runner.ProjectionRunner` is
given (decoders, the stores' steps, where dead letters go, the ``then`` hook) and what the
runtime hands it (a partition's :class:`LogMessage`).

Kept apart from the runner so that the registry, the worker and the stores name these shapes
without importing the runner's failure policy, as an event store keeps its ports apart from
its adapters.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Generic, NamedTuple, Protocol, TypeVar, runtime_checkable

from pydantic import BaseModel
from sqlalchemy import Connection

from hub.kafka.codec import DecodeError
from hub.projections.batch import ApplyOne, BatchApply
from hub.quarantine import QuarantineRecord

R = TypeVar("R", bound=BaseModel)
R_co = TypeVar("R_co", bound=BaseModel, covariant=True)
R_contra = TypeVar("R_contra", bound=BaseModel, contravariant=True)


class DeadLetters(Protocol):
    """Where refused entries go (:class:`hub.ingest.sink.CaseEventSink`): returns once the
    broker confirmed the write."""

    async def dead_letter(self, record: QuarantineRecord, topic: str) -> object: ...


class Decoder(Protocol[R_co]):
    """Bytes of one topic to a record; None for an entry to step over (its key was destroyed)."""

    def decode(self, data: bytes) -> R_co | None: ...


@runtime_checkable
class BatchDecoder(Protocol[R_co]):
    """A decoder that decodes a batch at once (one batch of the key store): each value's record,
    None, or its :class:`DecodeError`, in place."""

    def decode(self, data: bytes) -> R_co | None: ...

    def decode_many(self, values: Sequence[bytes]) -> Sequence[R_co | DecodeError | None]: ...


class Projection(Protocol[R_contra]):
    """A store's apply: one log entry with its position (``None``: only move the position) and
    its Kafka key (the family id on the family topic, ADR 0010)."""

    def __call__(
        self,
        topic: str,
        partition: int,
        offset: int,
        entry: R_contra | None,
        key: bytes | None = None,
        /,
    ) -> bool: ...


@runtime_checkable
class StoreStep(Protocol[R_contra]):
    """A store with a one-entry ``apply`` method (and, once it batches, ``apply_batch``): what
    the registry hands the runner, so a store's ``apply_batch`` is found."""

    def apply(
        self,
        topic: str,
        partition: int,
        offset: int,
        entry: R_contra | None,
        key: bytes | None = None,
        /,
    ) -> bool: ...


# One step of a runner: a store that batches, a store with only ``apply``, or an apply itself.
Step = BatchApply[R] | StoreStep[R] | Projection[R]


class LogMessage(NamedTuple):
    """One entry of a partition as the runtime read it."""

    offset: int
    value: bytes
    key: bytes | None = None


@dataclass(frozen=True, slots=True)
class Applied(Generic[R]):
    """An entry every step applied: what the ``then`` hook is given (its Kafka key, its bytes)."""

    entry: R
    key: bytes | None
    value: bytes


# What to do with a batch's entries once every projection has applied them (the person index
# forwards them, ADR 0010); awaited before the offsets may be committed.
Then = Callable[[Sequence[Applied[R]]], Awaitable[None]]

Routed = TypeVar("Routed")


@runtime_checkable
class StagedThen(Protocol[R, Routed]):
    """A ``then`` hook in two halves, so a batch of many parts (:meth:`ProjectionRunner.
    handle_parts`) waits for the broker once, not once per part: ``route`` decides what to send
    for a part right after the part is applied, before the next part is (SQL: the runner calls
    it off the event loop, retried like an apply); ``send`` hands that to the broker at once and
    returns what awaits its acknowledgements, which the runner awaits, all together, before it
    returns. Calling the hook itself does both for one batch."""

    def __call__(self, applied: Sequence[Applied[R]], /) -> Awaitable[None]: ...

    def route(self, applied: Sequence[Applied[R]], /) -> Routed: ...

    def route_in(self, connection: Connection, applied: Sequence[Applied[R]], /) -> Routed:
        """``route`` inside a store's transaction (:class:`PartsApply`'s ``after_part``)."""
        ...

    async def send(self, routed: Routed, /) -> Awaitable[object]: ...


def batch_step(step: Step[R]) -> BatchApply[R] | ApplyOne[R]:
    """What :func:`hub.projections.batch.apply_batch` applies for ``step``: the store itself
    where it batches, else its one-entry apply."""
    if isinstance(step, BatchApply):
        return step
    if isinstance(step, StoreStep):
        return step.apply
    return step
