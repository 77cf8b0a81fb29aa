"""Facts stated through the API: each becomes a case-event, answered only after the broker's ack.

A consent, a withdrawal, an override, a confirmed identity link, a practitioner named to the
team, an alert acknowledged or closed — whatever a reader states over the API is not written
to any store directly: :func:`publish_statement` makes it a case-event (source system
``hub-api``, the reader's organisation as source) and publishes it through the process's sink,
so it reaches every projection and every process by the same log and survives a rebuild. The
hub's sink folds a sharing fact into the sharing store as soon as the broker has it
(:meth:`hub.ingest.sink.CaseEventSink.applying_sharing_facts`): a withdrawal binds the very
next read, not only once the worker catches up.

:func:`record_disclosures` is the other half of every read: what a reader is shown is on the
disclosure log before it is sent. Both raise :class:`~hub.services.errors.NotRecordedError`
when the broker did not take the write, and then nothing may be answered but "send again".
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime

from hub.disclosures import Disclosure
from hub.events import PAYLOAD_TYPES, CaseEvent, EventType, deterministic_event_id
from hub.ingest.sink import CaseEventSink
from hub.kafka.publisher import PublishError
from hub.payloads import (
    Payload,
    PersonIdentifier,
    SafeguardingOverrideEnded,
    SafeguardingOverrideRecorded,
    Source,
)
from hub.services.errors import NotRecordedError
from hub.services.release import SharingContext
from hub.sharing.policy import Recipient
from hub.vocabulary import DataCategory, Sensitivity

API_SYSTEM = "hub-api"


@dataclass(frozen=True)
class Stated:
    """The case-event a statement became, once the broker has it."""

    event_id: uuid.UUID
    event_type: EventType


def event_type_of(payload: Payload) -> EventType:
    """The event type whose payload ``payload`` is."""
    return next(t for t, cls in PAYLOAD_TYPES.items() if isinstance(payload, cls))


def statement_event(
    reader: Recipient,
    identifiers: tuple[PersonIdentifier, ...],
    family_key: str | None,
    payload: Payload,
    now: datetime,
    *,
    record_key: str | None = None,
    category: DataCategory | None = None,
    sensitivity: Sensitivity = Sensitivity.RESTRICTED,
) -> CaseEvent:
    """The case-event of ``reader`` stating ``payload`` at ``now`` (pure).

    ``record_key`` names the fact in the event id (default: its consent or override id, else a
    fresh one); ``category`` defaults to SAFEGUARDING for overrides and DEMOGRAPHICS otherwise.
    """
    event_type = event_type_of(payload)
    record_id = (
        record_key or getattr(payload, "consent_id", None) or getattr(payload, "override_id", None)
    )
    record_id = f"{record_id or uuid.uuid4()}|{event_type}|{now.isoformat()}"
    return CaseEvent(
        event_id=deterministic_event_id(API_SYSTEM, reader.organisation_code, record_id),
        event_type=event_type,
        occurred_at=now,
        recorded_at=now,
        source=Source(system=API_SYSTEM, organisation_code=reader.organisation_code),
        source_record_id=record_id,
        subject=identifiers,
        family_key=family_key,
        data_category=category
        or (
            DataCategory.SAFEGUARDING
            if isinstance(payload, SafeguardingOverrideRecorded | SafeguardingOverrideEnded)
            else DataCategory.DEMOGRAPHICS
        ),
        sensitivity=sensitivity,
        payload=payload,
    )


async def publish_statement(
    sink: CaseEventSink,
    clock: Callable[[], datetime],
    reader: Recipient,
    identifiers: tuple[PersonIdentifier, ...],
    family_key: str | None,
    payload: Payload,
    *,
    record_key: str | None = None,
    category: DataCategory | None = None,
    sensitivity: Sensitivity = Sensitivity.RESTRICTED,
) -> Stated:
    """Publish what ``reader`` states now (:func:`statement_event`) through ``sink``.

    Raises :class:`NotRecordedError` if the broker did not acknowledge it: not recorded.
    """
    event = statement_event(
        reader,
        identifiers,
        family_key,
        payload,
        clock(),
        record_key=record_key,
        category=category,
        sensitivity=sensitivity,
    )
    try:
        await sink.publish(event)
    except PublishError as error:
        raise NotRecordedError(f"not recorded, send again: {error}") from error
    return Stated(event_id=event.event_id, event_type=event.event_type)


async def record_disclosures(context: SharingContext, disclosures: Iterable[Disclosure]) -> None:
    """Write every disclosure durably before anything is sent; :class:`NotRecordedError`
    (and nothing may be sent) if one was not taken."""
    try:
        await context.record(disclosures)
    except PublishError as error:
        raise NotRecordedError(
            f"the disclosure could not be recorded, so nothing was sent: {error}"
        ) from error
