"""SQL storage for sharing facts (consents, withdrawals, overrides) and the disclosure log.

Both are projections of topics, applied a batch of one partition at a time through
:func:`apply_batch_at_position`, so their log position is in the same transaction as their rows
(issue 19, ADR 0026): most entries of the family topic are not sharing events and only move the
position, so the batch's one transaction is most of the gain. A batch's sharing events read
their subjects' facts in one query and write what changed in one delete and one insert; a batch
of disclosures is one insert of those not yet kept.

Facts are stored as JSON documents keyed by subject and family: the policy always needs all of
one subject's facts, never a column of them.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Final

from pydantic import TypeAdapter
from sqlalchemy import (
    BigInteger,
    Column,
    ColumnElement,
    Connection,
    DateTime,
    Engine,
    MetaData,
    String,
    Table,
    Text,
    delete,
    insert,
    or_,
    select,
    update,
)
from sqlalchemy.exc import IntegrityError

from hub.disclosures import Disclosure, without_subject
from hub.erasure.sealing import Erasure, LogEntry, subjects_before_erasure
from hub.events import CaseEvent
from hub.sharing.facts import (
    SHARING_PAYLOADS,
    Consent,
    Override,
    SharingFacts,
    Withdrawal,
    fold_sharing,
)
from hub.sharing.facts_cache import DateReader, FactsCache
from hub.sharing.memo import DecisionMemo
from hub.sharing.policy import Subject
from hub.storage.among import among
from hub.storage.bulk import insert_missing, insert_rows
from hub.storage.folded import FoldedStore
from hub.storage.positions import (
    BatchEntry,
    apply_batch_at_position,
    apply_one,
    chunks,
    next_offset,
    positions,
)
from hub.storage.schema import create_tables

SHARING_PROJECTION: Final = "sharing_facts"
DISCLOSURE_PROJECTION: Final = "disclosure_log"

# The facts and the disclosure log, created by :meth:`SharingStore.create_schema`.
sharing_metadata = MetaData()

facts_table = Table(
    "sharing_facts",
    sharing_metadata,
    Column("fact_id", String(300), primary_key=True),
    Column("kind", String(20), nullable=False),
    Column("subject_key", String(250), nullable=False, index=True),
    Column("family_key", String(250), index=True),
    Column("body", Text, nullable=False),
)

disclosures_table = Table(
    "disclosures",
    sharing_metadata,
    Column("disclosure_id", String(36), primary_key=True),
    Column("subject_key", String(250), nullable=False, index=True),
    Column("recipient_organisation", String(50), nullable=False, index=True),
    Column("disclosed_at", DateTime(timezone=True), nullable=False),
    Column("body", Text, nullable=False),
)

# A counter moved by every transaction that changes the facts (a fold that changes them, an
# erasure, :meth:`SharingStore.record_now`), in that transaction: it dates the facts for the cache
# of :meth:`SharingStore.current_facts`. Not the projection's positions: they move with every
# entry of the family topic, most of which change no fact, and would drop the cache at each.
# It starts at a random number, so a store made again (a deleted file) never counts through
# the dates a process cached under the store it replaces.
written_table = Table(
    "sharing_facts_written",
    sharing_metadata,
    Column("name", String(20), primary_key=True),
    Column("stamp", BigInteger, nullable=False),
)
_WRITTEN: Final = "facts"

_CONSENT = TypeAdapter(Consent)
_WITHDRAWAL = TypeAdapter(Withdrawal)
_OVERRIDE = TypeAdapter(Override)


class SharingStore(FoldedStore[LogEntry]):
    """Consent and override facts per subject, and the disclosure log (whose position is
    :class:`DisclosureLog`'s)."""

    def __init__(self, engine: Engine) -> None:
        super().__init__(engine, SHARING_PROJECTION)
        dated = select(written_table.c.stamp).where(written_table.c.name == _WRITTEN)
        self._cache = FactsCache(
            DateReader(engine, dated), lambda subject, also: _load_facts(engine, subject, also)
        )

    def create_schema(self) -> None:
        """The facts, the disclosure log and the log positions, named here (whatever else the
        process has imported)."""
        create_tables(self._engine, positions, sharing_metadata)
        try:
            with self._engine.begin() as connection:
                if connection.execute(select(written_table.c.stamp)).first() is None:
                    connection.execute(insert(written_table).values(name=_WRITTEN, stamp=_start()))
        except IntegrityError:
            pass  # another process starting at the same time made the row

    def fold_batch(
        self, connection: Connection, topic: str, fresh: Sequence[tuple[int, BatchEntry[LogEntry]]]
    ) -> dict[int, str]:
        """Fold sharing events; on an erasure, delete the subject's facts. The facts of every
        subject the batch's sharing events name (up to its next erasure) are read in one query,
        folded in memory and written once: one delete and one insert for all that changed. A
        refused event is collected and the batch refused with all of them. A batch that changed
        facts moves the counter that dates them, once, last.

        The disclosure log is kept after an erasure, without the person: it is the controllers'
        accountability record (who was shown which categories, when, on which basis), so each
        row about the subjects is kept under the erasure's id (ADR 0020).
        """
        refused: dict[int, str] = {}  # by index in fresh
        facts: dict[str, SharingFacts] = {}  # as folded so far, by subject key
        folded: set[str] = set()  # the subjects whose facts the batch changed, not yet written
        changed = False
        for index, (_, item) in enumerate(fresh):
            entry = item.entry
            try:
                if isinstance(entry, Erasure):
                    changed |= _write_facts(connection, facts, folded)
                    facts.clear()  # the erasure may delete any of them: read again after it
                    _eraser(entry)(connection)
                    changed = True
                elif entry is not None and isinstance(entry.payload, SHARING_PAYLOADS):
                    key = entry.subject_key()
                    if key not in facts:
                        facts.update(
                            _facts_of(connection, _sharing_subjects(fresh, index) - facts.keys())
                        )
                    after = fold_sharing(facts[key], entry)  # refuses before anything is kept
                    if after != facts[key]:
                        facts[key] = after
                        folded.add(key)
            except ValueError as error:
                refused[index] = str(error)
        if refused:
            return refused  # refused in the transaction: it rolls back
        changed |= _write_facts(connection, facts, folded)
        if changed:
            _move_written(connection)
        return {}

    def record_now(self, event: CaseEvent) -> None:
        """Fold a sharing event the broker has just acknowledged (other events are ignored).

        Called by :meth:`hub.ingest.sink.CaseEventSink.publish` for every path that records one, so
        that a withdrawal takes effect at the very next read rather than when the worker catches
        up; the worker folds the same event later, and folding is idempotent.
        """
        if not isinstance(event.payload, SHARING_PAYLOADS):
            return
        with self._engine.begin() as connection:
            if _folder(event)(connection):
                _move_written(connection)

    def facts_for(self, subject: Subject, also: Iterable[str] = ()) -> SharingFacts:
        """The subject's facts, with those recorded under ``also`` (the person's other keys)."""
        return _load_facts(self._engine, subject, also)

    def current_facts(self, subject: Subject, also: Iterable[str] = ()) -> SharingFacts:
        """:meth:`facts_for` as a release needs them: the same facts, kept in memory while
        nothing has changed them.

        Every change to the stored facts moves the counter that dates them, in the transaction
        that makes it: the worker's folds and erasures, and :meth:`record_now` (a withdrawal the
        API has just published, in any process); entries that change no fact leave it alone, so
        the cache holds during heavy ingest. One single-row query reads that date; facts cached
        under another are dropped and loaded again. The date is read *before* the facts, so
        facts are never cached under a date later than theirs: a cache may be ahead of the
        store, never behind it. :meth:`forget` drops the cache (an erasure in this process).
        """
        return self._cache.memo(subject, tuple(also)).facts

    def current_memo(self, subject: Subject, also: Iterable[str] = ()) -> DecisionMemo:
        """:meth:`current_facts` with the gate's plans made of them in this process so far: what
        a release asks (:class:`hub.sharing.memo.DecisionMemo`), dropped with the facts."""
        return self._cache.memo(subject, tuple(also))

    @property
    def cached_subjects(self) -> int:
        """How many subjects' facts this process holds in memory now (to look at)."""
        return self._cache.size

    def forget(self) -> None:
        """Drop every fact this process holds in memory, and keep none until the facts change:
        an erasure (ADR 0025's epoch; :func:`hub.bootstrap.build_projection_stores` ties the
        two). The erased person's facts stay in the store until the worker applies the
        erasure's marker, which moves the date; a read before that loads them for itself and
        keeps nothing, so no idle process holds them afterwards. A load that began before
        this is not kept either."""
        self._cache.forget()

    def overrides_recorded_by(self, organisation_code: str) -> list[Override]:
        with self._engine.connect() as connection:
            facts = _facts(connection, [facts_table.c.kind == "override"])
        return [o for o in facts.overrides if o.recorded_by_organisation == organisation_code]

    def apply_disclosure(
        self,
        topic: str,
        partition: int,
        offset: int,
        disclosure: Disclosure | None,
        key: bytes | None = None,
    ) -> bool:
        return apply_one(
            self.apply_disclosures, topic, partition, BatchEntry(offset, disclosure, key)
        )

    def apply_disclosures(
        self, topic: str, partition: int, entries: Sequence[BatchEntry[Disclosure]]
    ) -> int:
        """Keep a batch of disclosures, each once (a disclosure id already kept is not written
        again), in one transaction with the disclosure log's position."""

        def write(connection: Connection, fresh: Sequence[BatchEntry[Disclosure]]) -> None:
            new: dict[str, Disclosure] = {}
            for item in fresh:
                if item.entry is not None:
                    new.setdefault(str(item.entry.disclosure_id), item.entry)
            insert_missing(  # a disclosure id already kept stays as it is
                connection,
                disclosures_table,
                ("disclosure_id",),
                [
                    {
                        "disclosure_id": disclosure_id,
                        "subject_key": d.subject_key,
                        "recipient_organisation": d.recipient_organisation,
                        "disclosed_at": d.disclosed_at,
                        "body": d.model_dump_json(),
                    }
                    for disclosure_id, d in new.items()
                ],
            )

        return apply_batch_at_position(
            self._engine, DISCLOSURE_PROJECTION, topic, partition, entries, write
        )

    def disclosures_about(self, subject_keys: Iterable[str]) -> list[Disclosure]:
        query = select(disclosures_table.c.body).where(
            disclosures_table.c.subject_key.in_(list(subject_keys))
        )
        with self._engine.connect() as connection:
            rows = connection.execute(query).scalars().all()
        found = [Disclosure.model_validate_json(body) for body in rows]
        return sorted(found, key=lambda d: (d.disclosed_at, str(d.disclosure_id)))


class DisclosureLog:
    """The disclosure-log projection of the disclosures topic, in :class:`SharingStore`'s tables.

    A projection store of its own shape (``create_schema``, ``next_offset``, ``apply``,
    ``apply_batch``) over the same tables as the facts, with its own log position, so the
    projection registry treats it like every other projection.
    """

    def __init__(self, store: SharingStore) -> None:
        self._store = store

    def create_schema(self) -> None:
        self._store.create_schema()

    def next_offset(self, topic: str, partition: int) -> int | None:
        with self._store.engine.connect() as connection:
            return next_offset(connection, DISCLOSURE_PROJECTION, topic, partition)

    def apply(
        self,
        topic: str,
        partition: int,
        offset: int,
        disclosure: Disclosure | None,
        key: bytes | None = None,
    ) -> bool:
        return self._store.apply_disclosure(topic, partition, offset, disclosure, key)

    def apply_batch(
        self, topic: str, partition: int, entries: Sequence[BatchEntry[Disclosure]], /
    ) -> int:
        return self._store.apply_disclosures(topic, partition, entries)


def _folder(event: CaseEvent) -> Callable[[Connection], bool]:
    """The fold of ``event`` into its subject's stored facts; it returns whether they changed
    (an event folded before, or one that changes nothing, writes nothing)."""
    key = event.subject_key()

    def write(connection: Connection) -> bool:
        before = _facts(connection, [facts_table.c.subject_key == key])
        after = fold_sharing(before, event)
        if after == before:
            return False
        connection.execute(delete(facts_table).where(facts_table.c.subject_key == key))
        _insert_facts(connection, after)
        return True

    return write


def _sharing_subjects(fresh: Sequence[tuple[int, BatchEntry[LogEntry]]], index: int) -> set[str]:
    """The subjects of the sharing events from ``index`` up to the batch's next erasure."""
    return subjects_before_erasure(
        (item.entry for _, item in fresh[index:]),
        lambda event: isinstance(event.payload, SHARING_PAYLOADS),
    )


def _facts_of(connection: Connection, keys: Iterable[str]) -> dict[str, SharingFacts]:
    """Each subject's stored facts (none: empty), read in one query per chunk of keys."""
    wanted = sorted(set(keys))
    rows: dict[str, list[tuple[str, str]]] = {key: [] for key in wanted}
    for chunk in chunks(wanted):
        for key, kind, body in connection.execute(
            select(facts_table.c.subject_key, facts_table.c.kind, facts_table.c.body)
            .where(among(connection, facts_table.c.subject_key, chunk))
            .order_by(facts_table.c.fact_id)
        ):
            rows[key].append((kind, body))
    return {key: _parsed(found) for key, found in rows.items()}


def _write_facts(
    connection: Connection, facts: Mapping[str, SharingFacts], folded: set[str]
) -> bool:
    """Replace the ``folded`` subjects' stored facts with ``facts``' (and forget that they are
    to be written); whether there were any."""
    if not folded:
        return False
    keys = sorted(folded)
    for chunk in chunks(keys):
        connection.execute(
            delete(facts_table).where(among(connection, facts_table.c.subject_key, chunk))
        )
    insert_rows(connection, facts_table, [row for key in keys for row in _fact_rows(facts[key])])
    folded.clear()
    return True


def _load_facts(engine: Engine, subject: Subject, also: Iterable[str]) -> SharingFacts:
    keys = [subject.person_key, *also]
    conditions: list[ColumnElement[bool]] = [facts_table.c.subject_key.in_(keys)]
    if subject.family_key is not None:
        conditions.append(facts_table.c.family_key == subject.family_key)
    with engine.connect() as connection:
        return _facts(connection, conditions)


def _move_written(connection: Connection) -> None:
    """Move the counter (its row made by the first move, if :meth:`SharingStore.create_schema`
    did not make it)."""
    moved = connection.execute(
        update(written_table)
        .where(written_table.c.name == _WRITTEN)
        .values(stamp=written_table.c.stamp + 1)
    )
    if moved.rowcount == 0:
        connection.execute(insert(written_table).values(name=_WRITTEN, stamp=_start()))


def _start() -> int:
    """Where a new counter starts: anywhere in 2⁶², far from any other store's."""
    return secrets.randbits(62)


def _facts(connection: Connection, conditions: Sequence[ColumnElement[bool]]) -> SharingFacts:
    rows = connection.execute(
        select(facts_table.c.kind, facts_table.c.body)
        .where(or_(*conditions))
        .order_by(facts_table.c.fact_id)
    ).all()
    return _parsed([(kind, body) for kind, body in rows])


def _parsed(rows: Sequence[tuple[str, str]]) -> SharingFacts:
    """Facts from their rows' (kind, body), in the rows' order."""
    consents = tuple(_CONSENT.validate_json(b) for k, b in rows if k == "consent")
    withdrawals = tuple(_WITHDRAWAL.validate_json(b) for k, b in rows if k == "withdrawal")
    overrides = tuple(_OVERRIDE.validate_json(b) for k, b in rows if k == "override")
    return SharingFacts(consents, withdrawals, overrides)


def _insert_facts(connection: Connection, facts: SharingFacts) -> None:
    insert_rows(connection, facts_table, _fact_rows(facts))


def _fact_rows(facts: SharingFacts) -> list[dict[str, object]]:
    rows: list[dict[str, object]] = []
    for index, consent in enumerate(facts.consents):
        rows.append(
            _row(
                "consent",
                index,
                consent.subject_key,
                consent.family_key,
                _CONSENT.dump_json(consent),
            )
        )
    for index, withdrawal in enumerate(facts.withdrawals):
        rows.append(
            _row(
                "withdrawal", index, withdrawal.subject_key, None, _WITHDRAWAL.dump_json(withdrawal)
            )
        )
    for index, override in enumerate(facts.overrides):
        rows.append(
            _row(
                "override",
                index,
                override.subject_key,
                override.family_key,
                _OVERRIDE.dump_json(override),
            )
        )
    return rows


def _row(kind: str, index: int, key: str, family: str | None, body: bytes) -> dict[str, object]:
    return {
        "fact_id": f"{key}|{kind}|{index:06d}",
        "kind": kind,
        "subject_key": key,
        "family_key": family,
        "body": body.decode(),
    }


def _eraser(erasure: Erasure) -> Callable[[Connection], None]:
    subjects = erasure.subjects

    def write(connection: Connection) -> None:
        connection.execute(delete(facts_table).where(facts_table.c.subject_key.in_(subjects)))
        rows = connection.execute(
            select(disclosures_table.c.disclosure_id, disclosures_table.c.body).where(
                disclosures_table.c.subject_key.in_(subjects)
            )
        ).all()
        for row in rows:
            kept = without_subject(Disclosure.model_validate_json(row.body), erasure.erasure_id)
            connection.execute(
                update(disclosures_table)
                .where(disclosures_table.c.disclosure_id == row.disclosure_id)
                .values(subject_key=kept.subject_key, body=kept.model_dump_json())
            )

    return write
