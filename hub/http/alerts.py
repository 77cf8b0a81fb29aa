"""HTTP routes for missed-appointment alerts: read (through the gate), acknowledge, close.

Reads pass every alert through :func:`hub.services.alert_release.release_alerts` for the
reader, which records the disclosure before anything is answered. Acknowledging and closing are
case-events (202 once the broker has them), so they survive a rebuild of the projection and
reach every process by the log; the alert shows its new status once the worker has applied it.
"""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Request
from pydantic import BaseModel, ConfigDict, Field

from hub.alerts.fold import AlertStatus
from hub.alerts.store import AlertView, MissedAppointmentStore
from hub.events import (
    AlertAcknowledged,
    AlertClosed,
    DataCategory,
    EventType,
    Sensitivity,
)
from hub.http.authentication import (
    PRACTITIONER_RESPONSES,
    Organisation,
    named_practitioner,
    reader_identity,
)
from hub.http.sharing import publish_from_api, sharing_context
from hub.identifiers import PersonKey
from hub.identity.store import IdentityStore
from hub.kafka.publisher import PublishError
from hub.practitioners import PractitionerRef
from hub.services.alert_release import AlertOut as AlertOut  # the inbox's import
from hub.services.alert_release import release_alerts
from hub.sharing.agreement import GOVERNANCE_ROLES
from hub.sharing.disclosure import Channel
from hub.sharing.policy import Recipient

ALERTS_SYSTEM = "hub-api"
Reader = Annotated[Recipient, Depends(reader_identity)]
DISCLOSURE_NOT_RECORDED = "The disclosure could not be recorded, so nothing was sent."
CHANGE_RESPONSES: dict[int | str, dict[str, Any]] = {
    401: PRACTITIONER_RESPONSES[401],
    403: {"description": "The client's role is no longer known."},
    404: {
        "description": "No such alert, or the reader — her organisation and id — is not among "
        "its recipients."
    },
    409: {"description": "The alert is already closed."},
    503: {"description": "The event could not be put on the log: send again."},
}


class AlertsOut(BaseModel):
    organisation_code: str  # the practitioner's: an id means something only in its organisation
    practitioner_id: str
    alerts: list[AlertOut]


class AcknowledgeIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    note: str | None = Field(default=None, max_length=2000)


class CloseIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    reason: str = Field(min_length=3, max_length=2000)


class AlertChangeAccepted(BaseModel):
    event_id: uuid.UUID
    event_type: EventType
    alert_id: uuid.UUID


async def released_alerts(
    request: Request, reader: Recipient, views: list[AlertView], *, channel: Channel
) -> list[AlertOut]:
    """:func:`release_alerts` for an HTTP read; 503 (and no data) if the record fails."""
    try:
        return await release_alerts(
            sharing_context(request),
            reader,
            views,
            channel=channel,
            reference=f"{request.method} {request.url.path}",
        )
    except PublishError as error:
        raise HTTPException(
            503, f"the disclosure could not be recorded, so nothing was sent: {error}"
        ) from error


def may_read_inbox(reader: Recipient, practitioner: PractitionerRef) -> bool:
    """The practitioner herself — the same organisation *and* id — or a governance role."""
    return reader.practitioner == practitioner or reader.role in GOVERNANCE_ROLES


async def change_alert(
    request: Request,
    reader: Recipient,
    alert_id: uuid.UUID,
    payload: AlertAcknowledged | AlertClosed,
) -> AlertChangeAccepted:
    """Publish an acknowledgement or closure by one of the alert's recipients.

    404 when the alert does not exist *or* the reader is not among its recipients (a reader
    outside the alert learns nothing of it); 409 when it is already closed.
    """
    store: MissedAppointmentStore = request.app.state.store
    view = store.alert(alert_id)
    alert = view.alert if view is not None else None
    if alert is None or reader.practitioner not in alert.addressed_to():
        raise HTTPException(404, f"no alert {alert_id} addressed to {reader.practitioner}")
    if alert.status is AlertStatus.CLOSED:
        raise HTTPException(409, f"alert {alert_id} was closed by {alert.closed_by}")
    accepted = await publish_from_api(
        request,
        reader,
        alert.subject,
        None,
        payload,
        record_key=f"{alert_id}|{reader.organisation_code}|{reader.user_id}",
        category=DataCategory.APPOINTMENTS,
        sensitivity=Sensitivity.ROUTINE,
    )
    return AlertChangeAccepted(
        event_id=accepted.event_id, event_type=accepted.event_type, alert_id=alert_id
    )


def acknowledgement(reader: Recipient, alert_id: uuid.UUID, note: str | None) -> AlertAcknowledged:
    """The event of ``reader`` acknowledging: by her id *and* organisation."""
    who = reader.practitioner
    return AlertAcknowledged(
        alert_id=alert_id, by=who.practitioner_id, by_organisation=who.organisation_code, note=note
    )


def closure(reader: Recipient, alert_id: uuid.UUID, reason: str) -> AlertClosed:
    who = reader.practitioner
    return AlertClosed(
        alert_id=alert_id,
        by=who.practitioner_id,
        by_organisation=who.organisation_code,
        reason=reason,
    )


def alert_router() -> APIRouter:
    router = APIRouter(tags=["alerts"])

    @router.get(
        "/practitioners/{practitioner_id}/alerts",
        response_model=AlertsOut,
        summary="Open and acknowledged missed-appointment alerts addressed to a practitioner",
        responses={**PRACTITIONER_RESPONSES, 503: {"description": DISCLOSURE_NOT_RECORDED}},
    )
    async def practitioner_alerts(
        practitioner_id: str, request: Request, reader: Reader, organisation: Organisation = None
    ) -> AlertsOut:
        """Alerts addressed to the practitioner (or escalated to her), not yet closed. The
        practitioner is of the reader's organisation unless ``organisation`` says another."""
        practitioner = named_practitioner(reader, practitioner_id, organisation)
        if not may_read_inbox(reader, practitioner):
            raise HTTPException(403, "alerts are read by the practitioner they are addressed to")
        store: MissedAppointmentStore = request.app.state.store
        views = store.open_alerts_for(practitioner)
        shown = await released_alerts(request, reader, views, channel=Channel.API)
        return AlertsOut(
            organisation_code=practitioner.organisation_code,
            practitioner_id=practitioner_id,
            alerts=shown,
        )

    @router.get(
        "/people/{person_key:path}/alerts",
        response_model=list[AlertOut],
        summary="Missed-appointment alerts about a person, as far as the reader may see them",
    )
    async def person_alerts(
        person_key: PersonKey, request: Request, reader: Reader
    ) -> list[AlertOut]:
        """For the team around the family (key worker, social worker, lead practitioner)."""
        store: MissedAppointmentStore = request.app.state.store
        identity: IdentityStore = request.app.state.identity
        views = [
            view for key in identity.same_person(person_key) for view in store.alerts_about(key)
        ]
        return await released_alerts(request, reader, views, channel=Channel.API)

    @router.post(
        "/alerts/{alert_id}/acknowledge",
        status_code=202,
        response_model=AlertChangeAccepted,
        summary="Acknowledge an alert addressed to you (stops its escalation timer)",
        responses=CHANGE_RESPONSES,
    )
    async def acknowledge(
        alert_id: uuid.UUID, body: AcknowledgeIn, request: Request, reader: Reader
    ) -> AlertChangeAccepted:
        payload = acknowledgement(reader, alert_id, body.note)
        return await change_alert(request, reader, alert_id, payload)

    @router.post(
        "/alerts/{alert_id}/close",
        status_code=202,
        response_model=AlertChangeAccepted,
        summary="Close an alert addressed to you, saying how it was followed up",
        responses=CHANGE_RESPONSES,
    )
    async def close(
        alert_id: uuid.UUID, body: CloseIn, request: Request, reader: Reader
    ) -> AlertChangeAccepted:
        payload = closure(reader, alert_id, body.reason)
        return await change_alert(request, reader, alert_id, payload)

    return router
