"""Subject keys a process has already unwrapped, kept until an erasure could concern them
(ADR 0025).

Without a cache every sealed event is a key-store transaction and every opened one a query plus
an unwrap (ADR 0009): the key store, not AES-GCM, bounds the pipeline. A cache is only safe if
a process learns of an erasure before it seals with, or opens by, a destroyed key, so the key
store keeps an **erasure epoch** — a counter bumped in the transaction that destroys keys — and
this cache is trusted only for as long as the epoch it last read is known to be current:

* **outside a batch**, every call reads the epoch first (one single-row query): a request, an
  HL7 message or a disclosure before a read behaves exactly as without a cache;
* **inside a batch** (``SubjectKeyStore.batch``), the epoch read when the batch began is
  trusted, and read again if the batch outlives ``CachePolicy.batch_check_every_s``;
* any change of the epoch (up, or down: a restored key store) **drops everything**. Erasures
  are rare — a data protection officer's decision — so reloading the working set once costs
  less than tracking which keys each shred touched, and a subject whose erasure is in
  progress is then looked up again, so it is refused as it always was.

Pure: no SQL, no clock and no lock of its own. :class:`hub.erasure.keystore.SubjectKeyStore`
is the shell that reads the epoch, passes the time and holds a lock around every call here.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass
from enum import Enum
from typing import Final, Generic, TypeVar

from hub.erasure.sealing import SubjectKey

V = TypeVar("V")


class Missing(Enum):
    """Not in the cache: ask the key store (distinct from a cached ``None``, a destroyed key)."""

    MISSING = "missing"


MISSING: Final = Missing.MISSING


@dataclass(frozen=True)
class CachePolicy:
    """How much a process keeps, for how long, and how stale a batch may let it get.

    ``max_keys`` bounds memory (each of the two maps; 0 turns the cache off: every call asks the
    key store, as before ADR 0025). ``max_age_s`` bounds how long an unwrapped secret stays in
    memory after it was read, however often it is used. ``batch_check_every_s`` bounds how old
    the epoch a long batch relies on may be (a batch held by a store that is down, retrying).
    """

    max_keys: int = 100_000
    max_age_s: float = 600.0
    batch_check_every_s: float = 1.0

    @property
    def enabled(self) -> bool:
        return self.max_keys > 0


# Every call asks the key store, as before ADR 0025 (benchmarks' baseline; a process that must
# not keep secrets in memory).
NO_CACHE: Final = CachePolicy(max_keys=0)


@dataclass(frozen=True)
class Check:
    """A read of the erasure epoch, numbered when it began (results may come back out of order
    from several threads)."""

    ticket: int
    started_at: float


class _Bounded(Generic[V]):
    """Least recently used first out, each entry forgotten ``max_age_s`` after it was stored."""

    def __init__(self, policy: CachePolicy) -> None:
        self._policy = policy
        self._entries: OrderedDict[str, tuple[V, float]] = OrderedDict()

    def get(self, name: str, now: float) -> V | Missing:
        found = self._entries.get(name)
        if found is None:
            return MISSING
        value, stored_at = found
        if now - stored_at >= self._policy.max_age_s:
            del self._entries[name]
            return MISSING
        self._entries.move_to_end(name)
        return value

    def put(self, name: str, value: V, now: float) -> None:
        self._entries[name] = (value, now)
        self._entries.move_to_end(name)
        while len(self._entries) > self._policy.max_keys:
            self._entries.popitem(last=False)

    def clear(self) -> None:
        self._entries.clear()

    def __len__(self) -> int:
        return len(self._entries)


class KeyCache:
    """Subjects' live keys (for sealing) and key ids' secrets (for opening; ``None`` for a
    destroyed key, which is destroyed for good), valid for one erasure epoch."""

    def __init__(self, policy: CachePolicy | None = None) -> None:
        self.policy = policy or CachePolicy()
        self._keys: _Bounded[SubjectKey] = _Bounded(self.policy)
        self._secrets: _Bounded[bytes | None] = _Bounded(self.policy)
        self._epoch: int | None = None  # none read yet: nothing may be trusted
        self._checked_at: float | None = None
        self._tickets = 0  # checks begun
        self._applied = 0  # the newest check whose result was taken
        # Bumped by every drop: a key read from the store before a drop is not stored after it.
        self.generation = 0

    @property
    def epoch(self) -> int | None:
        return self._epoch

    def must_check(self, now: float, *, in_batch: bool) -> bool:
        """Whether the epoch must be read before this call may use the cache."""
        if not self.policy.enabled:
            return False  # nothing is kept, so nothing can be stale
        if not in_batch or self._checked_at is None:
            return True
        return now - self._checked_at >= self.policy.batch_check_every_s

    def start_check(self, now: float) -> Check:
        self._tickets += 1
        return Check(self._tickets, now)

    def observe(self, check: Check, epoch: int) -> bool:
        """Take the epoch ``check`` read; True if that dropped the cache.

        A result older than one already taken is ignored: the newer read began later, so it
        already says everything this one could. The time of a check is when it *began* (what
        it read may be as old as that), so the batch bound errs on the early side.
        """
        if check.ticket <= self._applied:
            return False
        self._applied = check.ticket
        self._checked_at = check.started_at
        if epoch == self._epoch:
            return False
        self._epoch = epoch
        self.drop()
        return True

    def drop(self) -> None:
        """Forget every key (an erasure happened, here or in another process)."""
        self._keys.clear()
        self._secrets.clear()
        self.generation += 1

    def key(self, subject: str, now: float) -> SubjectKey | None:
        found = self._keys.get(subject, now)
        return None if found is MISSING else found

    def secret(self, key_id: str, now: float) -> bytes | Missing | None:
        return self._secrets.get(key_id, now)

    def put_key(self, subject: str, key: SubjectKey, *, generation: int, now: float) -> None:
        """Keep ``subject``'s live key, read (or made) while the cache was at ``generation``."""
        if not self.policy.enabled or generation != self.generation:
            return  # read before an erasure this cache has since learnt of: maybe destroyed
        self._keys.put(subject, key, now)
        self._secrets.put(key.key_id, key.secret, now)

    def put_secret(self, key_id: str, secret: bytes | None, *, generation: int, now: float) -> None:
        """Keep what the store said of ``key_id``: its secret, or None once destroyed."""
        if not self.policy.enabled or generation != self.generation:
            return
        self._secrets.put(key_id, secret, now)

    def sizes(self) -> tuple[int, int]:
        """Subjects' keys and key ids' secrets held (for tests and benchmarks)."""
        return len(self._keys), len(self._secrets)
