"""Alerts as a reader reads and answers them: her inbox, a person's alerts, acknowledge, close.

Reads pass every alert through :func:`hub.services.alert_release.release_alerts` for the
reader, which records the disclosure before anything is returned. Acknowledging and closing
are statements (:func:`~hub.services.statements.publish_statement`: case-events, answered once
the broker has them), so they survive a rebuild of the projection and reach every process by
the log; the alert shows its new status once the worker has applied it. The API and the web
inbox call these same functions: what one withholds, the other withholds.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from hub.alerts.state import AlertStatus
from hub.alerts.store import AlertView, MissedAppointmentStore
from hub.disclosures import Channel
from hub.ingest.sink import CaseEventSink
from hub.kafka.publisher import PublishError
from hub.payloads import AlertAcknowledged, AlertClosed
from hub.practitioners import PractitionerRef
from hub.services.alert_release import AlertOut, release_alerts
from hub.services.errors import ConflictError, ForbiddenError, NotFoundError, NotRecordedError
from hub.services.release import SharingContext
from hub.services.statements import Stated, publish_statement
from hub.sharing.agreement import GOVERNANCE_ROLES
from hub.sharing.policy import Recipient
from hub.vocabulary import DataCategory, Sensitivity


async def released_alerts(
    context: SharingContext,
    reader: Recipient,
    views: list[AlertView],
    *,
    channel: Channel,
    reference: str,
    keys: Mapping[str, Sequence[str]] | None = None,
) -> list[AlertOut]:
    """:func:`release_alerts`, refusing with :class:`NotRecordedError` (and no data) when the
    disclosures could not be recorded."""
    try:
        return await release_alerts(
            context, reader, views, channel=channel, reference=reference, keys=keys
        )
    except PublishError as error:
        raise NotRecordedError(
            f"the disclosure could not be recorded, so nothing was sent: {error}"
        ) from error


def may_read_inbox(reader: Recipient, practitioner: PractitionerRef) -> bool:
    """The practitioner herself — the same organisation *and* id — or a governance role."""
    return reader.practitioner == practitioner or reader.role in GOVERNANCE_ROLES


async def practitioner_alerts(
    alerts: MissedAppointmentStore,
    context: SharingContext,
    reader: Recipient,
    practitioner: PractitionerRef,
    *,
    reference: str,
) -> list[AlertOut]:
    """The open alerts addressed (or escalated) to ``practitioner``, as ``reader`` may see them;
    read by the practitioner herself or a governance role."""
    if not may_read_inbox(reader, practitioner):
        raise ForbiddenError("alerts are read by the practitioner they are addressed to")
    views = alerts.open_alerts_for(practitioner)
    return await released_alerts(context, reader, views, channel=Channel.API, reference=reference)


async def person_alerts(
    alerts: MissedAppointmentStore,
    context: SharingContext,
    reader: Recipient,
    person_key: str,
    *,
    reference: str,
) -> list[AlertOut]:
    """The alerts about a person under every identifier of hers, as ``reader`` may see them."""
    keys = context.identity.same_person(person_key)
    views = [view for key in keys for view in alerts.alerts_about(key)]
    # Every key is the one person's: her keys are looked up once for the read, not per key.
    return await released_alerts(
        context,
        reader,
        views,
        channel=Channel.API,
        reference=reference,
        keys=dict.fromkeys(keys, keys),
    )


async def addressed_alert(
    alerts: MissedAppointmentStore,
    context: SharingContext,
    reader: Recipient,
    alert_id: uuid.UUID,
    *,
    reference: str,
) -> tuple[AlertOut, str]:
    """One alert addressed to ``reader`` as she may see it, and whom it is about (the key, for
    the team beside it); :class:`NotFoundError` unless addressed and released to her."""
    view = alerts.alert(alert_id)
    if view is None or reader.practitioner not in view.alert.addressed_to():
        raise NotFoundError(f"no alert {alert_id} addressed to you")
    shown = await released_alerts(context, reader, [view], channel=Channel.API, reference=reference)
    if not shown:
        raise NotFoundError(f"no alert {alert_id} you may see")
    return shown[0], view.alert.subject_key


def acknowledgement(reader: Recipient, alert_id: uuid.UUID, note: str | None) -> AlertAcknowledged:
    """The event of ``reader`` acknowledging: by her id *and* organisation."""
    who = reader.practitioner
    return AlertAcknowledged(
        alert_id=alert_id, by=who.practitioner_id, by_organisation=who.organisation_code, note=note
    )


def closure(reader: Recipient, alert_id: uuid.UUID, reason: str) -> AlertClosed:
    """The event of ``reader`` closing, saying how it was followed up."""
    who = reader.practitioner
    return AlertClosed(
        alert_id=alert_id,
        by=who.practitioner_id,
        by_organisation=who.organisation_code,
        reason=reason,
    )


@dataclass(frozen=True)
class AlertChanged:
    """An acknowledgement or closure, on the log."""

    stated: Stated
    alert_id: uuid.UUID


async def change_alert(
    alerts: MissedAppointmentStore,
    sink: CaseEventSink,
    clock: Callable[[], datetime],
    reader: Recipient,
    alert_id: uuid.UUID,
    payload: AlertAcknowledged | AlertClosed,
) -> AlertChanged:
    """Publish an acknowledgement or closure by one of the alert's recipients.

    :class:`NotFoundError` when the alert does not exist *or* the reader is not among its
    recipients (a reader outside the alert learns nothing of it); :class:`ConflictError` when
    it is already closed.
    """
    view = alerts.alert(alert_id)
    alert = view.alert if view is not None else None
    if alert is None or reader.practitioner not in alert.addressed_to():
        raise NotFoundError(f"no alert {alert_id} addressed to {reader.practitioner}")
    if alert.status is AlertStatus.CLOSED:
        raise ConflictError(f"alert {alert_id} was closed by {alert.closed_by}")
    stated = await publish_statement(
        sink,
        clock,
        reader,
        alert.subject,
        None,
        payload,
        record_key=f"{alert_id}|{reader.organisation_code}|{reader.user_id}",
        category=DataCategory.APPOINTMENTS,
        sensitivity=Sensitivity.ROUTINE,
    )
    return AlertChanged(stated, alert_id)
