"""Subjects' data keys in SQL, and their destruction (ADR 0009, 0020, 0025).

One row per key: ``key_id`` (random), the ``subject`` it belongs to (an identifier key, the
same rule as :meth:`hub.payloads.PersonIdentifier.key`), the secret wrapped with the
key-encryption key (:mod:`hub.storage.kek`, ADR 0020), and when it was shredded.

* At most one **live** key per subject (a partial unique index), so two processes sealing the
  first events about a new person concurrently end up with the same key.
* **Shredding** overwrites the secret and the subject with NULL in one statement; from that
  commit no process can open an entry sealed with it. What the projections must still delete is
  kept in ``erasure_purges`` until the worker has applied the key's ``SubjectErased`` marker
  (:meth:`SubjectKeyStore.apply`), then forgotten too.
* A later event about the same identifier (a re-registration) gets a new key.
* Keys already read are **cached in the process** (:mod:`hub.erasure.key_cache`, ADR 0025),
  valid for one **erasure epoch**: a counter every shred bumps in its own transaction. A call
  outside a batch reads the epoch first; a batch (:meth:`SubjectKeyStore.batch`) reads it once.

The key tables live in a database of their own (``HUB_KEY_STORE_URL``, else ``keys.sqlite3``
in the state directory; :func:`open_key_store`), apart from the projections: rebuilding
projections never touches keys, and a copy of either database alone opens nothing (ADR 0020).
"""

from __future__ import annotations

import threading
import time
import weakref
from collections.abc import Callable, Iterable, Sequence
from contextvars import ContextVar, Token
from datetime import datetime
from inspect import ismethod
from types import TracebackType

from sqlalchemy import (
    Column,
    DateTime,
    Engine,
    LargeBinary,
    MetaData,
    String,
    Table,
    delete,
    insert,
    inspect,
    select,
)
from sqlalchemy.exc import IntegrityError

from hub.erasure import key_tables
from hub.erasure.key_cache import MISSING, CachePolicy, KeyCache
from hub.erasure.key_tables import CHUNK
from hub.erasure.key_tables import epoch_table as epoch_table
from hub.erasure.key_tables import key_metadata as key_metadata
from hub.erasure.key_tables import keys_table as keys_table
from hub.erasure.key_tables import purges_table as purges_table
from hub.erasure.sealing import Erasure, LogEntry, SubjectKey, new_key
from hub.events import utc_now
from hub.kafka.publisher import PublishError
from hub.settings import Settings
from hub.storage.engine import make_engine
from hub.storage.kek import KeyWrapper
from hub.storage.schema import SchemaOnce

# The batches open in this context (an asyncio task, or a thread), by key store.
_open_batches: ContextVar[frozenset[object]] = ContextVar("open_key_batches", default=frozenset())


class ErasureInProgressError(PublishError):
    """A write about a person whose erasure the projections have not finished applying.

    Sealing it would make a new key for the person — naming them in the key store again — and
    store data the erasure is about to delete: refused as "not stored, send again later"
    (a :class:`~hub.kafka.publisher.PublishError`: 503, HL7 AR), which is true within seconds.
    ``subjects`` are the identifier keys refused (never in the message, which is shown and
    logged); a bulk :meth:`SubjectKeyStore.keys_for` made and cached the others' keys.
    """

    def __init__(self, message: str, subjects: Iterable[str] = ()) -> None:
        super().__init__(message)
        self.subjects = frozenset(subjects)


class UnknownKeyError(LookupError):
    """An entry sealed with a key this key store never held: the wrong database for this log."""


class KeyBatch:
    """While entered, calls on its key store in this context trust the epoch the batch read
    (:meth:`SubjectKeyStore.begin_batch`) instead of reading it per call."""

    def __init__(self, token: object) -> None:
        self._token = token
        self._reset: Token[frozenset[object]] | None = None

    def __enter__(self) -> KeyBatch:
        self._reset = _open_batches.set(_open_batches.get() | {self._token})
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if self._reset is not None:
            _open_batches.reset(self._reset)
            self._reset = None


class SubjectKeyStore:
    """Get-or-create, look up and shred subjects' keys; those read are cached (ADR 0025).

    Outside a batch every call reads the erasure epoch first (one single-row query), so a
    request, an HL7 message or the disclosure sealed before a read is released behaves exactly
    as it would without the cache. A caller that handles a batch calls :meth:`begin_batch` once
    and enters it; calls in it then cost no query for keys already read. ``cache`` is the
    policy (:data:`~hub.erasure.key_cache.NO_CACHE`: every call asks the database).
    """

    def __init__(
        self,
        engine: Engine,
        wrapper: KeyWrapper,
        *,
        cache: CachePolicy | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._engine = engine
        self._wrapper = wrapper
        self._schema = SchemaOnce(engine, key_metadata)
        self._cache = KeyCache(cache)
        self._clock = clock
        self._lock = threading.Lock()  # around every use of the cache, never around SQL
        self._batch_token = object()
        self._erased: list[weakref.WeakMethod[Callable[[], None]]] = []

    def when_erased(self, forget: Callable[[], None]) -> None:
        """Call ``forget`` whenever this process learns of an erasure — its own shred, or an
        epoch read that finds the epoch moved — just after the keys are dropped: what else the
        process keeps about people in memory (the sharing facts' cache) is dropped with them.

        ``forget`` must be a bound method, and it is held weakly: an object that is dropped (a
        rebuild's store, once ``hub replay`` is done with it) is no longer told, and is not
        kept alive by this list."""
        if not ismethod(forget):
            raise TypeError(f"when_erased takes a bound method, not {forget!r}")
        with self._lock:
            self._erased = [ref for ref in self._erased if ref() is not None]
            self._erased.append(weakref.WeakMethod(forget))

    def _tell_erased(self) -> None:
        with self._lock:
            alive = [forget for ref in self._erased if (forget := ref()) is not None]
        for forget in alive:
            forget()

    @property
    def engine(self) -> Engine:
        return self._engine

    @property
    def cache(self) -> KeyCache:
        """The cache itself, to look at (its epoch and sizes); change it only through the store."""
        return self._cache

    def cache_generation(self) -> int | None:
        """The key cache's generation, which every drop (an erasure learnt of) moves; None while
        the cache is off. What a hand-over of opened entries is valid for (ADR 0049)."""
        if not self._cache.policy.enabled:
            return None
        with self._lock:
            return self._cache.generation

    def create_schema(self) -> None:
        """Create the key table; safe when several threads or processes do it at once."""
        self._schema.create()

    def _ensure_schema(self) -> None:
        self._schema.ensure()

    def begin_batch(self) -> KeyBatch:
        """Read the erasure epoch now — one query, dropping every cached key if an erasure
        committed since the last read — and return the batch to enter: ``with
        keys.begin_batch(): ...``. No entry of the batch is then sealed with, or opened by, a
        key destroyed before it began; a batch lasting longer than the policy's
        ``batch_check_every_s`` reads the epoch again.

        Call it once the batch's entries are in hand (an erasure marker among them was
        published after its keys were destroyed, so this read sees that erasure). From async
        code call it off the event loop (``batch = await asyncio.to_thread(keys.begin_batch)``)
        and enter it in the coroutine: the ``to_thread`` calls it then makes inherit it.
        """
        self._ensure_schema()
        self._check()
        return KeyBatch(self._batch_token)

    def key_for(self, subject: str) -> SubjectKey:
        """The subject's live key, made on first use; :class:`ErasureInProgressError` while an
        erasure of the subject is still being applied."""
        return self.keys_for([subject])[subject]

    def keys_for(self, subjects: Iterable[str]) -> dict[str, SubjectKey]:
        """Every subject's live key: those not cached read in one query, the missing ones made
        in one insert (per :data:`CHUNK` subjects).

        Another process making the same subject's key at the same time wins or loses on the
        one-live-key index; the loser reads the winner's, so both seal with one key. Raises
        :class:`ErasureInProgressError` (``subjects``: those refused) if any is being erased —
        after making and caching the others' keys, so asking again for the rest costs nothing.
        """
        wanted = sorted(set(subjects))
        self._ensure_schema()
        self._fresh()
        found: dict[str, SubjectKey] = {}
        with self._lock:
            now, generation = self._clock(), self._cache.generation
            for subject in wanted:
                cached = self._cache.key(subject, now)
                if cached is not None:
                    found[subject] = cached
        missing = [subject for subject in wanted if subject not in found]
        read: dict[str, SubjectKey] = {}
        erasing: set[str] = set()
        for start in range(0, len(missing), CHUNK):
            held, pending = self._read_or_make(missing[start : start + CHUNK])
            read.update(held)
            erasing |= pending
        with self._lock:
            now = self._clock()
            for subject, key in read.items():
                self._cache.put_key(subject, key, generation=generation, now=now)
        if erasing:
            raise ErasureInProgressError(
                "this person's erasure is still being applied: send again later", erasing
            )
        return found | read

    def _read_or_make(self, subjects: Sequence[str]) -> tuple[dict[str, SubjectKey], set[str]]:
        """The live keys of ``subjects`` and those being erased, making the keys still missing."""
        held: dict[str, SubjectKey] = {}
        erasing: set[str] = set()
        todo = list(subjects)
        for _ in range(3):
            live, pending = self._read_keys(todo)
            held.update(live)
            erasing |= pending
            new = {s: new_key() for s in todo if s not in live and s not in pending}
            made = self._insert_keys(new) if new else set()
            held.update((subject, new[subject]) for subject in made)
            todo = sorted(set(new) - made)  # another process made theirs first: read them
            if not todo:
                return held, erasing
        raise RuntimeError(f"could not create or read the keys of {len(todo)} subjects")

    def _read_keys(self, subjects: Sequence[str]) -> tuple[dict[str, SubjectKey], set[str]]:
        live, pending = key_tables.live_and_pending(self._engine, subjects)
        keys = {s: SubjectKey(k, self._unwrap(k, wrapped)) for s, (k, wrapped) in live.items()}
        return keys, pending

    def _insert_keys(self, new: dict[str, SubjectKey]) -> set[str]:
        now = utc_now()
        rows = [
            {
                "key_id": key.key_id,
                "subject": subject,
                "wrapped_secret": self._wrapper.wrap(key.secret, f"subject key {key.key_id}"),
                "created_at": now,
            }
            for subject, key in new.items()
        ]
        return key_tables.insert_new_keys(self._engine, rows)

    def secret_of(self, key_id: str) -> bytes | None:
        """The secret, or None once shredded; :class:`UnknownKeyError` if never held."""
        found = self.secrets_of([key_id])
        if key_id not in found:
            raise UnknownKeyError(
                f"no key {key_id} in this hub's key store: is the worker using the database "
                "that the connectors sealed with?"
            )
        return found[key_id]

    def secrets_of(self, key_ids: Iterable[str]) -> dict[str, bytes | None]:
        """Each key id's secret (None once shredded), those not cached read in one query per
        :data:`CHUNK`; a key id this store never held is left out."""
        wanted = sorted(set(key_ids))
        self._ensure_schema()
        self._fresh()
        found: dict[str, bytes | None] = {}
        with self._lock:
            now, generation = self._clock(), self._cache.generation
            for key_id in wanted:
                cached = self._cache.secret(key_id, now)
                if cached is not MISSING:
                    found[key_id] = cached
        missing = [key_id for key_id in wanted if key_id not in found]
        read: dict[str, bytes | None] = {}
        for start in range(0, len(missing), CHUNK):
            held = key_tables.wrapped_secrets(self._engine, missing[start : start + CHUNK])
            for key_id, wrapped in held.items():
                read[key_id] = None if wrapped is None else self._unwrap(key_id, wrapped)
        with self._lock:
            now = self._clock()
            for key_id, secret in read.items():
                self._cache.put_secret(key_id, secret, generation=generation, now=now)
        return found | read

    def _unwrap(self, key_id: str, wrapped: bytes) -> bytes:
        return self._wrapper.unwrap(bytes(wrapped), f"subject key {key_id}")

    def _fresh(self) -> None:
        """Read the epoch unless this call may trust the last read (inside a recent batch)."""
        in_batch = self._batch_token in _open_batches.get()
        with self._lock:
            if not self._cache.must_check(self._clock(), in_batch=in_batch):
                return
        self._check()

    def _check(self) -> None:
        if not self._cache.policy.enabled:
            return
        with self._lock:
            check = self._cache.start_check(self._clock())
        epoch = key_tables.read_epoch(self._engine)
        with self._lock:
            known = self._cache.epoch
            moved = self._cache.observe(check, epoch) and known is not None
        if moved:  # an erasure since the last read (the first read drops nothing cached)
            self._tell_erased()

    def subjects_of(self, key_id: str) -> tuple[str, ...]:
        """The identifiers a destroyed key's marker must purge (empty once it has been applied).
        Never cached: the worker forgets them once every projection has applied the marker."""
        self._ensure_schema()
        with self._engine.connect() as connection:
            rows = connection.execute(
                select(purges_table.c.subject)
                .where(purges_table.c.key_id == key_id)
                .order_by(purges_table.c.subject)
            )
            return tuple(rows.scalars())

    def shred(self, subjects: Iterable[str], at: datetime) -> list[str]:
        """Destroy every key of ``subjects``; the ids of keys whose markers are to be published.

        Every destroyed key's marker purges *all* of ``subjects``, not only the identifier the
        key was made for: a council id that arrived on an NHS-numbered record has rows but no
        key of its own. Keys destroyed earlier whose marker the worker has not yet applied are
        returned again, so a repeated erasure request re-publishes markers rather than failing.
        The same transaction bumps the erasure epoch, which tells every process's cache.
        """
        self._ensure_schema()
        wanted = sorted(set(subjects))
        for _ in range(3):
            try:
                with self._engine.begin() as connection:
                    destroyed = key_tables.shred(connection, wanted, at)
                break
            except IntegrityError:  # two first-ever shreds both made the epoch row: again
                continue
        else:
            raise RuntimeError("could not bump the erasure epoch")
        with self._lock:  # this process knows at once; the others at their next epoch read
            self._cache.drop()
        self._tell_erased()
        return destroyed

    def apply(
        self,
        topic: str,
        partition: int,
        offset: int,
        entry: LogEntry | None,
        key: bytes | None = None,
    ) -> bool:
        """The last projection of the log: forget what a marker was to purge, once it has.

        Runs after every other projection has deleted its rows (the runner applies projections
        in order), so the identifiers are never forgotten before the rows that name them are
        gone. Idempotent, so it needs no log position of its own. No epoch bump: a subject
        under erasure is never cached, so no cache holds anything this changes.
        """
        if not isinstance(entry, Erasure):
            return False
        self._ensure_schema()
        with self._engine.begin() as connection:
            connection.execute(delete(purges_table).where(purges_table.c.key_id == entry.key_id))
        return True


# The key tables as ADR 0009 kept them, in the projection database with the secrets in clear:
# read once by :func:`migrate_legacy_keys`, then dropped.
legacy_metadata = MetaData()
_legacy_keys = Table(
    "subject_keys",
    legacy_metadata,
    Column("key_id", String(36), primary_key=True),
    Column("subject", String(300)),
    Column("secret", LargeBinary(32)),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("shredded_at", DateTime(timezone=True)),
)
_legacy_purges = Table(
    "erasure_purges",
    legacy_metadata,
    Column("key_id", String(36), primary_key=True),
    Column("subject", String(300), primary_key=True),
)


class LegacyKeyStoreError(RuntimeError):
    """Subject keys in the projection database, in clear: a state from before ADR 0020."""


def open_key_store(settings: Settings) -> SubjectKeyStore:
    """The hub's key store: its own database, its secrets wrapped with the configured KEK.

    Refuses (:class:`LegacyKeyStoreError`, with what to do) while the projection database still
    holds a ``subject_keys`` table: keys from before ADR 0020, in clear, which ``hub keys
    migrate`` moves into the key store (wrapped) and then drops.
    """
    if settings.resolved_key_store_url() == settings.resolved_database_url():
        raise ValueError(
            "HUB_KEY_STORE_URL names the projection database: the key store must be a database "
            "of its own (ADR 0020)"
        )
    if _holds_legacy_keys(settings):
        raise LegacyKeyStoreError(
            "the projection database holds subject keys in clear (a hub state from before "
            "ADR 0020). Stop every hub process and run `hub keys migrate` once: it wraps them "
            "with the key-encryption key into the key store and drops them from the projection "
            "database. Back up both databases and the key-encryption key first."
        )
    return SubjectKeyStore(make_engine(settings.resolved_key_store_url()), settings.key_wrapper())


def _holds_legacy_keys(settings: Settings) -> bool:
    """A ``subject_keys`` table with the clear ``secret`` column in the projection database."""
    projections = make_engine(settings.resolved_database_url())
    try:
        schema = inspect(projections)
        if not schema.has_table(_legacy_keys.name):
            return False
        return "secret" in {column["name"] for column in schema.get_columns(_legacy_keys.name)}
    finally:
        projections.dispose()


def migrate_legacy_keys(settings: Settings) -> int:
    """Move clear subject keys (and pending purges) from the projection database into the key
    store, wrapped; then drop them there. Idempotent; returns the keys moved."""
    projections = make_engine(settings.resolved_database_url())
    wrapper = settings.key_wrapper()
    keys = SubjectKeyStore(make_engine(settings.resolved_key_store_url()), wrapper)
    keys.create_schema()
    try:
        if not _holds_legacy_keys(settings):
            return 0
        with projections.connect() as connection:
            old_keys = connection.execute(select(_legacy_keys)).all()
            old_purges = connection.execute(select(_legacy_purges)).all()
        with keys.engine.begin() as connection:
            held = set(connection.execute(select(keys_table.c.key_id)).scalars())
            rows = [
                {
                    "key_id": r.key_id,
                    "subject": r.subject,
                    "wrapped_secret": None
                    if r.secret is None
                    else wrapper.wrap(bytes(r.secret), f"subject key {r.key_id}"),
                    "created_at": r.created_at,
                    "shredded_at": r.shredded_at,
                }
                for r in old_keys
                if r.key_id not in held
            ]
            if rows:
                connection.execute(insert(keys_table), rows)
            pending = {
                (row.key_id, row.subject)
                for row in connection.execute(select(purges_table.c.key_id, purges_table.c.subject))
            }
            purges = [
                {"key_id": p.key_id, "subject": p.subject}
                for p in old_purges
                if (p.key_id, p.subject) not in pending
            ]
            if purges:
                connection.execute(insert(purges_table), purges)
        legacy_metadata.drop_all(projections)
        if projections.dialect.name == "sqlite":
            with projections.connect() as connection:  # the clear secrets out of free pages too
                connection.exec_driver_sql("VACUUM")
        return len(rows)
    finally:
        projections.dispose()
        keys.engine.dispose()
