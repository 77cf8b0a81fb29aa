"""The record of every attempt to change sharing: applied, held for review, or refused (ADR 0019).

Each attempt keeps who made it (organisation, role, user), what it was, the decision with its
reason and agreement rule, and the evidence or justification given (for a consent: who obtained
it, when and how). Applied changes are on the case-event log as well; held and refused ones are
only here, so this table is a primary record like the clients' (its own metadata: rebuilding
projections never touches it). It answers: the person's audit report (every change about
them), the safeguarding lead's list of her organisation's refused and held attempts, the held
changes waiting for a reviewer, and, for a held change, the event that would be published if
it were applied (and, once a reviewer applied or rejected it, the record that did: at most one,
``review_of`` is unique).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from typing import Any, Final

from pydantic import AwareDatetime, Field
from sqlalchemy import (
    Column,
    DateTime,
    Engine,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    insert,
    select,
)

from hub.payloads import FrozenModel
from hub.sharing.agreement import ChangeKind
from hub.sharing.policy import Verdict
from hub.storage.schema import SchemaOnce

change_metadata = MetaData()
changes_table = Table(
    "sharing_changes",
    change_metadata,
    Column("seq", Integer, primary_key=True, autoincrement=True),  # the order they came in
    Column("change_id", String(36), nullable=False, unique=True),
    Column("subject_key", String(250), nullable=False, index=True),
    Column("organisation_code", String(100), nullable=False, index=True),
    Column("outcome", String(10), nullable=False),
    Column("at", DateTime(timezone=True), nullable=False),
    Column("review_of", String(36), unique=True),  # the held change this one decides
    Column("body", Text, nullable=False),
)
HELD_OR_REFUSED: Final = (Verdict.DENY.value, Verdict.REVIEW.value)


class ChangeRecord(FrozenModel):
    """One attempt to change sharing and what the policy decided about it."""

    change_id: uuid.UUID
    at: AwareDatetime
    kind: ChangeKind
    subject_key: str
    organisation_code: str
    role: str
    user_id: str
    outcome: Verdict
    reason: str
    rule: str | None = None
    agreement_version: str
    channel: str  # "api" or "webhook"
    justification: str | None = None  # why, in the actor's words (a withdrawal, an override)
    evidence: dict[str, Any] = Field(default_factory=dict)  # a consent's: who, when, how
    recipients: tuple[str, ...] = ()
    reference: str  # the route or webhook id
    event_id: uuid.UUID | None = None  # the case-event, once applied
    held_event: dict[str, Any] | None = None  # REVIEW: the event that was not published
    review_of: uuid.UUID | None = None  # the held change this record applies or rejects


class ChangeLog:
    """Append and read :class:`ChangeRecord` rows."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._schema = SchemaOnce(engine, change_metadata)

    def create_schema(self) -> None:
        self._schema.create()

    def record(self, entry: ChangeRecord) -> None:
        self._schema.ensure()
        with self._engine.begin() as connection:
            connection.execute(
                insert(changes_table).values(
                    change_id=str(entry.change_id),
                    subject_key=entry.subject_key,
                    organisation_code=entry.organisation_code,
                    outcome=entry.outcome.value,
                    at=entry.at,
                    review_of=None if entry.review_of is None else str(entry.review_of),
                    body=entry.model_dump_json(),
                )
            )

    def about(self, subject_keys: Iterable[str]) -> list[ChangeRecord]:
        """Every attempt about any of a person's identifier keys, in the order they came."""
        return self._select(changes_table.c.subject_key.in_(list(subject_keys)))

    def held_or_refused(self, organisation_code: str) -> list[ChangeRecord]:
        """What the organisation's people tried and the policy refused or held, in order."""
        return self._select(
            changes_table.c.organisation_code == organisation_code,
            changes_table.c.outcome.in_(HELD_OR_REFUSED),
        )

    def get(self, change_id: uuid.UUID) -> ChangeRecord | None:
        found = self._select(changes_table.c.change_id == str(change_id))
        return found[0] if found else None

    def held(self) -> list[ChangeRecord]:
        """Changes held for review that nobody has applied or rejected yet, in order."""
        reviewed = select(changes_table.c.review_of).where(changes_table.c.review_of.is_not(None))
        return self._select(
            changes_table.c.outcome == Verdict.REVIEW.value,
            changes_table.c.change_id.not_in(reviewed),
        )

    def review_of(self, change_id: uuid.UUID) -> ChangeRecord | None:
        """The record that applied or rejected a held change, if any."""
        found = self._select(changes_table.c.review_of == str(change_id))
        return found[0] if found else None

    def _select(self, *conditions: Any) -> list[ChangeRecord]:
        self._schema.ensure()
        query = select(changes_table.c.body).where(*conditions).order_by(changes_table.c.seq)
        with self._engine.connect() as connection:
            rows = connection.execute(query).scalars().all()
        return [ChangeRecord.model_validate_json(body) for body in rows]
