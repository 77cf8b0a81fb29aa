"""Subjects' data keys in SQL, and their destruction (ADR 0009).

One row per key: ``key_id`` (random), the ``subject`` it belongs to (an identifier key, the
same rule as :meth:`hub.events.PersonIdentifier.key`), the secret wrapped with the
key-encryption key (:mod:`hub.storage.kek`, ADR 0020), and when it was shredded.

* At most one **live** key per subject (a partial unique index), so two processes sealing the
  first events about a new person concurrently end up with the same key.
* **Shredding** overwrites the secret and the subject with NULL in one statement; from that
  commit no process can open an entry sealed with it. What the projections must still delete is
  kept in ``erasure_purges`` until the worker has applied the key's ``SubjectErased`` marker
  (:meth:`SubjectKeyStore.apply`), then forgotten too.
* A later event about the same identifier (a re-registration) gets a new key.

The key tables live in a database of their own (``HUB_KEY_STORE_URL``, else ``keys.sqlite3``
in the state directory; :func:`open_key_store`), apart from the projections: rebuilding
projections never touches keys, and a copy of either database alone opens nothing (ADR 0020).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from sqlalchemy import (
    Column,
    DateTime,
    Engine,
    Index,
    LargeBinary,
    MetaData,
    String,
    Table,
    delete,
    insert,
    inspect,
    select,
    update,
)
from sqlalchemy.exc import IntegrityError

from hub.erasure.sealing import Erasure, LogEntry, SubjectKey, new_key
from hub.events import utc_now
from hub.kafka.publisher import PublishError
from hub.settings import Settings
from hub.storage.engine import make_engine
from hub.storage.kek import KeyWrapper
from hub.storage.schema import SchemaOnce

key_metadata = MetaData()

keys_table = Table(
    "subject_keys",
    key_metadata,
    Column("key_id", String(36), primary_key=True),
    Column("subject", String(300), index=True),
    Column("wrapped_secret", LargeBinary(80)),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("shredded_at", DateTime(timezone=True)),
)
# Identifiers still to be purged from the projections, per destroyed key, until the worker has
# applied that key's ``SubjectErased`` marker.
purges_table = Table(
    "erasure_purges",
    key_metadata,
    Column("key_id", String(36), primary_key=True),
    Column("subject", String(300), primary_key=True),
)
Index(
    "one_live_key_per_subject",
    keys_table.c.subject,
    unique=True,
    sqlite_where=keys_table.c.wrapped_secret.is_not(None),
    postgresql_where=keys_table.c.wrapped_secret.is_not(None),
)


class ErasureInProgressError(PublishError):
    """A write about a person whose erasure the projections have not finished applying.

    Sealing it would make a new key for the person — naming them in the key store again — and
    store data the erasure is about to delete: refused as "not stored, send again later"
    (a :class:`~hub.kafka.publisher.PublishError`: 503, HL7 AR), which is true within seconds.
    """


class UnknownKeyError(LookupError):
    """An entry sealed with a key this key store never held: the wrong database for this log."""


class SubjectKeyStore:
    """Get-or-create, look up and shred subjects' keys."""

    def __init__(self, engine: Engine, wrapper: KeyWrapper) -> None:
        self._engine = engine
        self._wrapper = wrapper
        self._schema = SchemaOnce(engine, key_metadata)

    @property
    def engine(self) -> Engine:
        return self._engine

    def create_schema(self) -> None:
        """Create the key table; safe when several threads or processes do it at once."""
        self._schema.create()

    def _ensure_schema(self) -> None:
        self._schema.ensure()

    def key_for(self, subject: str) -> SubjectKey:
        """The subject's live key, made on first use; :class:`ErasureInProgressError` while an
        erasure of the subject is still being applied."""
        self._ensure_schema()
        for _ in range(3):
            with self._engine.begin() as connection:
                pending = connection.execute(
                    select(purges_table.c.key_id).where(purges_table.c.subject == subject)
                ).first()
                if pending is not None:
                    raise ErasureInProgressError(
                        "this person's erasure is still being applied: send again later"
                    )
                row = connection.execute(
                    select(keys_table.c.key_id, keys_table.c.wrapped_secret).where(
                        keys_table.c.subject == subject, keys_table.c.wrapped_secret.is_not(None)
                    )
                ).first()
                if row is not None:
                    return SubjectKey(row.key_id, self._unwrap(row.key_id, row.wrapped_secret))
            key = new_key()
            try:
                with self._engine.begin() as connection:
                    connection.execute(
                        insert(keys_table).values(
                            key_id=key.key_id,
                            subject=subject,
                            wrapped_secret=self._wrapper.wrap(
                                key.secret, f"subject key {key.key_id}"
                            ),
                            created_at=utc_now(),
                        )
                    )
                return key
            except IntegrityError:  # another process made it first: read theirs
                continue
        raise RuntimeError(f"could not create or read a key for {subject!r}")

    def secret_of(self, key_id: str) -> bytes | None:
        """The secret, or None once shredded; :class:`UnknownKeyError` if never held."""
        self._ensure_schema()
        with self._engine.connect() as connection:
            row = connection.execute(
                select(keys_table.c.wrapped_secret).where(keys_table.c.key_id == key_id)
            ).first()
        if row is None:
            raise UnknownKeyError(
                f"no key {key_id} in this hub's key store: is the worker using the database "
                "that the connectors sealed with?"
            )
        return None if row.wrapped_secret is None else self._unwrap(key_id, row.wrapped_secret)

    def _unwrap(self, key_id: str, wrapped: bytes) -> bytes:
        return self._wrapper.unwrap(bytes(wrapped), f"subject key {key_id}")

    def subjects_of(self, key_id: str) -> tuple[str, ...]:
        """The identifiers a destroyed key's marker must purge (empty once it has been applied)."""
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
        """
        self._ensure_schema()
        wanted = sorted(set(subjects))
        with self._engine.begin() as connection:
            destroyed = list(
                connection.execute(
                    select(keys_table.c.key_id).where(keys_table.c.subject.in_(wanted))
                ).scalars()
            )
            connection.execute(
                update(keys_table)
                .where(keys_table.c.key_id.in_(destroyed))
                .values(wrapped_secret=None, subject=None, shredded_at=at)
            )
            pending = set(
                connection.execute(
                    select(purges_table.c.key_id).where(purges_table.c.subject.in_(wanted))
                ).scalars()
            )
            if destroyed:
                connection.execute(
                    insert(purges_table),
                    [{"key_id": k, "subject": s} for k in destroyed for s in wanted],
                )
            return sorted(pending | set(destroyed))

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
        gone. Idempotent, so it needs no log position of its own.
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
