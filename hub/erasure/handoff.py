"""Case-events the person index opened, handed to the family topic's reader in the same
process instead of being opened twice (ADR 0049).

The worker's two stages (ADR 0010) read the same bytes: the person index opens a case-event,
applies it and forwards its bytes unchanged to the family topic, whose reader, in the same
process a moment later, opened them again. Opening (framing, AES-GCM, Avro, the model's
validation) was about a quarter of the worker's CPU under load, half of it that second opening.

Handing an opened event over is safe by the key cache's own rule (ADR 0025): within one
generation of the cache (no erasure learnt of between) a reader opens an entry with the same
keys, so it gets the same event. An event is kept only if the cache's generation did not move
while it was opened (the generation is read before its keys are), and taken only in the same
generation, by a reader whose batch has just read the erasure epoch
(:meth:`hub.erasure.keystore.SubjectKeyStore.begin_batch`): an erasure committed before the
family reader's batch began drops the cache, so the reader opens the entry anew and finds its
key destroyed, as it always did. Destroyed keys, erasure markers and refusals are never kept.
An erasure learnt of also forgets every kept event, so none outlives it in memory.

Bounded: an event no reader here takes (another worker process holds the family partition, or
the person index refused it) is forgotten oldest first past ``max_entries``, or ``max_age_s``
after it was kept. The process held the same plaintext while it applied the event anyway.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable, Sequence
from typing import Protocol

from hub.events import CaseEvent

MAX_ENTRIES = 10_000
MAX_AGE_S = 60.0


class KeyCacheEvents(Protocol):
    """What a hand-over needs of a key store (:class:`hub.erasure.keystore.SubjectKeyStore`):
    its cache's generation, and word of every erasure it learns of."""

    def cache_generation(self) -> int | None: ...

    def when_erased(self, forget: Callable[[], None]) -> None: ...


class OpenedEntries:
    """Opened case-events by the bytes they were opened from, valid for one generation of the
    key cache (``generation()``: None when the cache is off, and then nothing is handed over)."""

    def __init__(
        self,
        generation: Callable[[], int | None],
        *,
        max_entries: int = MAX_ENTRIES,
        max_age_s: float = MAX_AGE_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._generation = generation
        self._max_entries = max_entries
        self._max_age_s = max_age_s
        self._clock = clock
        self._lock = threading.Lock()  # the two stages' threads keep and take concurrently
        self._entries: OrderedDict[bytes, tuple[CaseEvent, float]] = OrderedDict()
        self._kept_in: int | None = None  # the generation every kept event was opened in

    @classmethod
    def for_key_store(cls, keys: KeyCacheEvents) -> OpenedEntries:
        """Valid for ``keys``' cache generations, and cleared by every erasure ``keys`` learns
        of: the worker's two stages share one (``stage_runners``)."""
        opened = cls(keys.cache_generation)
        keys.when_erased(opened.clear)
        return opened

    def generation(self) -> int | None:
        """Read before opening a batch's entries: :meth:`keep` takes what this returned."""
        return self._generation()

    def keep(self, generation: int | None, opened: Iterable[tuple[bytes, CaseEvent]]) -> None:
        """Keep each event opened from its bytes, if the cache is still at ``generation`` (read
        before the entries' keys were): otherwise an erasure may have come between, keep none."""
        if generation is None or self._generation() != generation:
            return
        now = self._clock()
        with self._lock:
            if self._kept_in != generation:
                self._entries.clear()
                self._kept_in = generation
            entries = self._entries
            for value, event in opened:
                entries[value] = (event, now)
            self._forget_old(now)

    def take(self, values: Sequence[bytes]) -> dict[int, CaseEvent]:
        """The kept events among ``values`` by their index, each taken once; call it inside the
        reader's key batch, after its epoch read. Nothing if the cache moved since they were
        kept."""
        generation = self._generation()
        if generation is None:
            return {}
        now = self._clock()
        found: dict[int, CaseEvent] = {}
        with self._lock:
            if self._kept_in != generation:
                self._entries.clear()
                return found
            self._forget_old(now)
            pop = self._entries.pop
            for index, value in enumerate(values):
                kept = pop(value, None)
                if kept is not None:
                    found[index] = kept[0]
        return found

    def clear(self) -> None:
        """Forget every kept event (an erasure was learnt of: the key store's ``when_erased``)."""
        with self._lock:
            self._entries.clear()
            self._kept_in = None

    @property
    def held(self) -> int:
        """How many opened events are kept now (no ``__len__``: an empty one is not false)."""
        return len(self._entries)

    def _forget_old(self, now: float) -> None:
        entries = self._entries
        while entries:
            oldest, (_, kept_at) = next(iter(entries.items()))
            if len(entries) <= self._max_entries and now - kept_at < self._max_age_s:
                return
            del entries[oldest]
