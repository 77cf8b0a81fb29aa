"""The one list of projections: which store folds which topic, with which tables, and whether
``hub replay`` can rebuild it.

Before this list, which projection reads which topic was written out three times (the worker's
runners, the positions it resumes from, the projections ``hub replay`` knows) and ``/metrics``
and ``/health`` derived theirs from one of the copies; a new projection meant finding every
copy. Now each projection is one :class:`ProjectionSpec` in :data:`PROJECTIONS`, and every
runner reads the list: the worker builds one runner per topic from the specs that read it
(:func:`reading`) and resumes from their positions
(:func:`hub.projections.resume.stored_projections`), ``/metrics`` and ``/health`` measure their
lag, ``hub replay`` rebuilds those with a :class:`Rebuild` (:func:`rebuildable`), and the
composition root creates their tables (:func:`create_schemas`). A new projection is one folder
(its fold and store) and one entry here.

Each store satisfies :class:`ProjectionStore`. A store that also has ``apply_batch`` (issue 19,
:class:`hub.projections.batch.BatchApply`) applies a batch in one transaction; the runners are
handed the stores themselves (:func:`runner_applies`) and fall back to ``apply`` one entry at a
time for a store without it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Final, Generic, Protocol, TypeVar

from pydantic import BaseModel
from sqlalchemy import MetaData, Table

from hub.alerts import fold as alert_fold
from hub.alerts.changes import feed
from hub.alerts.store import LIVE as ALERT_TABLES
from hub.alerts.store import MissedAppointmentStore
from hub.alerts.tables import alert_tables
from hub.alerts.timers import alert_rules
from hub.disclosures import Disclosure
from hub.erasure.keystore import SubjectKeyStore
from hub.erasure.sealing import LogEntry
from hub.erasure.wal import ForgetWal
from hub.errorqueue.fold import PROJECTION as ERROR_QUEUE
from hub.errorqueue.fold import Refusal
from hub.errorqueue.store import QuarantineStore
from hub.errorqueue.tables import DEAD_LETTER_PROJECTION
from hub.errorqueue.tables import FOLDED as QUEUE_TABLES
from hub.identity.store import IDENTITY_PROJECTION, IdentityStore, identity_metadata
from hub.outcomes import fold as outcomes_fold
from hub.outcomes.store import LIVE as OUTCOME_TABLES
from hub.outcomes.store import OutcomesStore, outcome_tables
from hub.projections.ports import Projection, Step
from hub.settings import Settings
from hub.sharing.agreement import Agreement
from hub.sharing.store import (
    DISCLOSURE_PROJECTION,
    SHARING_PROJECTION,
    DisclosureLog,
    SharingStore,
    disclosures_table,
    facts_table,
)
from hub.storage.positions import positions
from hub.team import fold as team_fold
from hub.team.store import LIVE as TEAM_TABLES
from hub.team.store import TeamStore, team_tables

R = TypeVar("R", bound=BaseModel)
R_contra = TypeVar("R_contra", bound=BaseModel, contravariant=True)


class TopicRole(StrEnum):
    """The topics projections read, by role; :meth:`topic` names the deployment's topic."""

    CASE_EVENTS = "case-events"  # as connectors keyed them: the person index reads these
    FAMILY_EVENTS = "family-events"  # keyed by family (ADR 0010): every other projection
    DISCLOSURES = "disclosures"  # sealed disclosure records (ADR 0007)
    QUARANTINE = "quarantine"  # refused input, sealed (ADR 0020): the error queue (ADR 0030)
    DEAD_LETTERS = "dead-letters"  # entries a projection refused: the error queue too

    def topic(self, settings: Settings) -> str:
        if self is TopicRole.CASE_EVENTS:
            return settings.case_events_topic
        if self is TopicRole.FAMILY_EVENTS:
            return settings.family_events_topic
        if self is TopicRole.QUARANTINE:
            return settings.quarantine_topic
        if self is TopicRole.DEAD_LETTERS:
            return settings.dead_letter_topic
        return settings.disclosures_topic


class ProjectionStore(Protocol[R_contra]):
    """A projection's store: its tables, its log position, and the fold of one entry.

    ``apply`` writes the entry's effects and the new position in one transaction (ADR 0004);
    ``entry`` None (dead-lettered, or its key destroyed) moves only the position; ``key`` is the
    entry's Kafka key (the family id on the family topic). Issue 19 adds ``apply_batch`` here.
    """

    def create_schema(self) -> None: ...

    def next_offset(self, topic: str, partition: int) -> int | None: ...

    def apply(
        self,
        topic: str,
        partition: int,
        offset: int,
        entry: R_contra | None,
        key: bytes | None = None,
        /,
    ) -> bool: ...


class Stores(Protocol):
    """What the projections are built from: the hub's stores on one engine, with the settings
    and agreement (:class:`hub.bootstrap.Hub` and :class:`hub.bootstrap.ProjectionStores`)."""

    @property
    def settings(self) -> Settings: ...
    @property
    def agreement(self) -> Agreement: ...
    @property
    def alerts(self) -> MissedAppointmentStore: ...
    @property
    def team(self) -> TeamStore: ...
    @property
    def outcomes(self) -> OutcomesStore: ...
    @property
    def identity(self) -> IdentityStore: ...
    @property
    def sharing(self) -> SharingStore: ...
    @property
    def keys(self) -> SubjectKeyStore: ...
    @property
    def quarantine(self) -> QuarantineStore: ...


# A fresh generation (ADR 0015): its tables, and a store that writes them under its own name.
Generation = tuple[Sequence[Table], ProjectionStore[LogEntry]]


@dataclass(frozen=True)
class Rebuild:
    """How ``hub replay`` rebuilds a projection of the family topic: the live tables it swaps
    out, and the store of a fresh generation given that generation's metadata and suffix."""

    live: Sequence[Table]
    build: Callable[[Stores, MetaData, str], Generation]


@dataclass(frozen=True)
class ProjectionSpec(Generic[R]):
    """One projection: its name (in ``projection_positions`` and on the command line), the topic
    it reads, its store, every table it writes (the positions table aside) and, if ``hub
    replay`` can rebuild it, how."""

    name: str
    reads: TopicRole
    store: Callable[[Stores], ProjectionStore[R]]
    tables: Sequence[Table]
    rebuild: Rebuild | None = None


def _alerts_generation(stores: Stores, generation: MetaData, suffix: str) -> Generation:
    tables = alert_tables(generation, suffix)
    rules = alert_rules(stores.settings, stores.agreement)
    name = alert_fold.PROJECTION + suffix
    store = MissedAppointmentStore(stores.alerts.engine, rules, tables=tables, projection=name)
    stores.keys.when_erased(store.forget)  # what it parsed names people, as the live store's
    return tables, store


def _team_generation(stores: Stores, generation: MetaData, suffix: str) -> Generation:
    tables = team_tables(generation, suffix)
    name = team_fold.PROJECTION + suffix
    return tables, TeamStore(stores.alerts.engine, tables=tables, projection=name)


def _outcomes_generation(stores: Stores, generation: MetaData, suffix: str) -> Generation:
    tables = outcome_tables(generation, suffix)
    name = outcomes_fold.PROJECTION + suffix
    return tables, OutcomesStore(stores.alerts.engine, tables=tables, projection=name)


def _outcomes(stores: Stores) -> ProjectionStore[LogEntry]:
    return stores.outcomes


def _identity(stores: Stores) -> ProjectionStore[LogEntry]:
    return stores.identity


def _alerts(stores: Stores) -> ProjectionStore[LogEntry]:
    return stores.alerts


def _team(stores: Stores) -> ProjectionStore[LogEntry]:
    return stores.team


def _sharing(stores: Stores) -> ProjectionStore[LogEntry]:
    return stores.sharing


def _disclosures(stores: Stores) -> ProjectionStore[Disclosure]:
    return DisclosureLog(stores.sharing)


def _quarantine(stores: Stores) -> ProjectionStore[Refusal]:
    return stores.quarantine


def _dead_letters(stores: Stores) -> ProjectionStore[Refusal]:
    return stores.quarantine.of_dead_letters()


# In the order each topic's runner applies them.
PROJECTIONS: Final[tuple[ProjectionSpec[Any], ...]] = (
    ProjectionSpec[LogEntry](
        IDENTITY_PROJECTION,
        TopicRole.CASE_EVENTS,
        _identity,
        tuple(identity_metadata.tables.values()),
    ),
    ProjectionSpec[LogEntry](
        alert_fold.PROJECTION,
        TopicRole.FAMILY_EVENTS,
        _alerts,
        (*ALERT_TABLES, feed),
        Rebuild(ALERT_TABLES, _alerts_generation),
    ),
    ProjectionSpec[LogEntry](
        team_fold.PROJECTION,
        TopicRole.FAMILY_EVENTS,
        _team,
        TEAM_TABLES,
        Rebuild(TEAM_TABLES, _team_generation),
    ),
    ProjectionSpec[LogEntry](
        outcomes_fold.PROJECTION,
        TopicRole.FAMILY_EVENTS,
        _outcomes,
        OUTCOME_TABLES,
        Rebuild(OUTCOME_TABLES, _outcomes_generation),
    ),
    # The counter dating the facts (ADR 0029) is, like the positions, not a derived table: its
    # store makes it, and a rebuild or a comparison of rebuilt tables has nothing to do with it.
    ProjectionSpec[LogEntry](SHARING_PROJECTION, TopicRole.FAMILY_EVENTS, _sharing, (facts_table,)),
    ProjectionSpec[Disclosure](
        DISCLOSURE_PROJECTION, TopicRole.DISCLOSURES, _disclosures, (disclosures_table,)
    ),
    # The error queue (ADR 0030): both topics into one store, each under its own name.
    ProjectionSpec[Refusal](ERROR_QUEUE, TopicRole.QUARANTINE, _quarantine, QUEUE_TABLES),
    ProjectionSpec[Refusal](
        DEAD_LETTER_PROJECTION, TopicRole.DEAD_LETTERS, _dead_letters, QUEUE_TABLES
    ),
)


def reading(
    role: TopicRole, projections: Sequence[ProjectionSpec[Any]] = PROJECTIONS
) -> list[ProjectionSpec[Any]]:
    """The projections of ``role``'s topic, in the order its runner applies them."""
    return [spec for spec in projections if spec.reads is role]


def rebuildable(projections: Sequence[ProjectionSpec[Any]] = PROJECTIONS) -> dict[str, Rebuild]:
    """The projections ``hub replay`` can rebuild, by name."""
    return {spec.name: spec.rebuild for spec in projections if spec.rebuild is not None}


def derived_tables(projections: Sequence[ProjectionSpec[Any]] = PROJECTIONS) -> list[Table]:
    """Every table folded from the log: the positions and each projection's tables. Deleting
    them all loses nothing a worker cannot rebuild from the log (the key store is not here:
    deleting it would be erasing everyone, ADR 0009)."""
    tables = [positions, *(table for spec in projections for table in spec.tables)]
    return list(dict.fromkeys(tables))


def create_schemas(
    stores: Stores, projections: Sequence[ProjectionSpec[Any]] = PROJECTIONS
) -> None:
    """Every projection's tables, each made by its own store."""
    for spec in projections:
        spec.store(stores).create_schema()


def runner_applies(
    stores: Stores, projections: Sequence[ProjectionSpec[Any]] = PROJECTIONS
) -> dict[TopicRole, list[Step[Any]]]:
    """What each topic's runner applies, in order: the stores of the projections that read it
    (the stores themselves, not their bound ``apply``, so the runner finds a store's
    ``apply_batch``: one transaction per batch, issue 19) and, on the family topic, the
    :func:`erasure_steps` after them all."""
    found: dict[TopicRole, list[Step[Any]]] = {
        role: [spec.store(stores) for spec in reading(role, projections)] for role in TopicRole
    }
    found[TopicRole.FAMILY_EVENTS].extend(erasure_steps(stores))
    return found


def erasure_steps(stores: Stores) -> list[Projection[LogEntry]]:
    """What the family topic's runner applies after every projection: the key store forgets
    what an erasure was to purge (ADR 0009) — the error queue first deletes the items sealed with
    the destroyed key — then SQLite's write-ahead logs are truncated (ADR
    0020). Not projections (no position, no table folded from the log), and not in the list, so
    a projection added to :data:`PROJECTIONS` can never run after them. One entry at a time
    (the runner's fallback, in the batch's one thread hop): both do nothing but for an erasure
    marker, which is rare."""
    return [
        stores.quarantine.forget_erased,  # the error queue's items sealed with the key (ADR 0030)
        stores.keys.apply,
        ForgetWal(stores.alerts.engine, stores.keys.engine).apply,
    ]
