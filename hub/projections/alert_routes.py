"""HTTP routes for missed-appointment alerts: read (through the gate), acknowledge, close.

Reads pass every alert through :func:`hub.sharing.routes.release_now` for the reader and record
the disclosure before answering. Acknowledging and closing are case-events (202 once the broker
has them), so they survive a rebuild of the projection and reach every process by the log; the
alert shows its new status once the worker has applied the event.
"""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Request
from pydantic import BaseModel, ConfigDict, Field

from hub.events import (
    AlertAcknowledged,
    AlertClosed,
    DataCategory,
    EventType,
    Purpose,
    Sensitivity,
)
from hub.identity.store import IdentityStore
from hub.projections.missed_appointments import AlertStatus
from hub.projections.store import AlertView, MissedAppointmentStore
from hub.readers import reader_identity
from hub.sharing.agreement import GOVERNANCE_ROLES
from hub.sharing.disclosure import Channel
from hub.sharing.gate import Item
from hub.sharing.policy import Recipient, Subject
from hub.sharing.routes import publish_from_api, record_disclosures, release_now

ALERTS_SYSTEM = "hub-api"
Reader = Annotated[Recipient, Depends(reader_identity)]


class PersonOut(BaseModel):
    nhs_number: str | None
    given_name: str | None
    family_name: str | None
    birth_date: date | None


class AppointmentOut(BaseModel):
    appointment_id: str
    start: datetime
    end: datetime | None
    service_type: str | None
    description: str | None
    location: str | None


class AlertOut(BaseModel):
    alert_id: str
    status: AlertStatus
    person: PersonOut | None  # None: the reader may not see the person's demographics
    appointment: AppointmentOut
    missed_at: datetime
    raised_at: datetime
    inferred: bool
    source_system: str
    organisation_code: str
    recipients: list[str]
    escalated_to: list[str]
    escalated_at: datetime | None
    escalation_reason: str | None
    acknowledged_by: str | None
    acknowledged_at: datetime | None
    closed_by: str | None
    closed_at: datetime | None
    close_reason: str | None


class AlertsOut(BaseModel):
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


def alert_out(view: AlertView, *, with_person: bool) -> AlertOut:
    alert, person, appointment = view.alert, view.person, view.alert.appointment
    return AlertOut(
        alert_id=str(alert.alert_id),
        status=alert.status,
        person=PersonOut(
            nhs_number=person.nhs_number,
            given_name=person.given_name,
            family_name=person.family_name,
            birth_date=person.birth_date,
        )
        if with_person
        else None,
        appointment=AppointmentOut(
            appointment_id=appointment.appointment_id,
            start=appointment.start,
            end=appointment.end,
            service_type=appointment.service_type,
            description=appointment.description,
            location=appointment.location,
        ),
        missed_at=alert.missed_at,
        raised_at=alert.raised_at,
        inferred=alert.inferred,
        source_system=alert.source_system,
        organisation_code=alert.organisation_code,
        recipients=sorted(alert.recipients),
        escalated_to=sorted(alert.escalated_to),
        escalated_at=alert.escalated_at,
        escalation_reason=alert.escalation_reason,
        acknowledged_by=alert.acknowledged_by,
        acknowledged_at=alert.acknowledged_at,
        closed_by=alert.closed_by,
        closed_at=alert.closed_at,
        close_reason=alert.close_reason,
    )


async def released_alerts(
    request: Request, reader: Recipient, views: list[AlertView], *, channel: Channel
) -> list[AlertOut]:
    """Each alert through the sharing gate for ``reader``; every release recorded first.

    An alert whose appointment the reader may not see is left out; one whose demographics it
    may not see is shown without them.
    """
    identity: IdentityStore = request.app.state.identity
    by_subject: dict[str, list[AlertView]] = {}
    for view in views:
        by_subject.setdefault(view.alert.subject_key, []).append(view)
    released: set[str] = set()
    disclosures = []
    for key, subject_views in by_subject.items():  # one decision set and record per person
        items: list[Item[str]] = []
        for view in subject_views:
            alert_id, controller = str(view.alert.alert_id), view.alert.organisation_code
            items.append(Item(DataCategory.APPOINTMENTS, controller, alert_id))
            items.append(
                Item(DataCategory.DEMOGRAPHICS, controller, f"{alert_id}/person", len(items) - 1)
            )
        outcome = release_now(
            request,
            reader,
            Subject(key),
            items,
            channel=channel,
            purpose=Purpose.DIRECT_CARE,
            reference=f"{request.method} {request.url.path} alerts "
            + ",".join(str(v.alert.alert_id) for v in subject_views),
            also=identity.same_person(key),  # consent follows merges
        )
        released.update(outcome.released)
        if outcome.disclosure is not None:
            disclosures.append(outcome.disclosure)
    shown = [
        alert_out(view, with_person=f"{view.alert.alert_id}/person" in released)
        for view in views
        if str(view.alert.alert_id) in released
    ]
    await record_disclosures(request, disclosures)
    return shown


def may_read_inbox(reader: Recipient, practitioner_id: str) -> bool:
    return reader.user_id == practitioner_id or reader.role in GOVERNANCE_ROLES


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
    if alert is None or reader.user_id not in alert.addressed_to():
        raise HTTPException(404, f"no alert {alert_id} addressed to {reader.user_id}")
    if alert.status is AlertStatus.CLOSED:
        raise HTTPException(409, f"alert {alert_id} was closed by {alert.closed_by}")
    accepted = await publish_from_api(
        request,
        reader,
        alert.subject,
        None,
        payload,
        record_key=f"{alert_id}|{reader.user_id}",
        category=DataCategory.APPOINTMENTS,
        sensitivity=Sensitivity.ROUTINE,
    )
    return AlertChangeAccepted(
        event_id=accepted.event_id, event_type=accepted.event_type, alert_id=alert_id
    )


def alert_router() -> APIRouter:
    router = APIRouter(tags=["alerts"])

    @router.get(
        "/practitioners/{practitioner_id}/alerts",
        response_model=AlertsOut,
        summary="Open and acknowledged missed-appointment alerts addressed to a practitioner",
    )
    async def practitioner_alerts(
        practitioner_id: str, request: Request, reader: Reader
    ) -> AlertsOut:
        """Alerts addressed to the practitioner (or escalated to her), not yet closed."""
        if not may_read_inbox(reader, practitioner_id):
            raise HTTPException(403, "alerts are read by the practitioner they are addressed to")
        store: MissedAppointmentStore = request.app.state.store
        views = store.open_alerts_for(practitioner_id)
        shown = await released_alerts(request, reader, views, channel=Channel.API)
        return AlertsOut(practitioner_id=practitioner_id, alerts=shown)

    @router.get(
        "/people/{person_key:path}/alerts",
        response_model=list[AlertOut],
        summary="Missed-appointment alerts about a person, as far as the reader may see them",
    )
    async def person_alerts(person_key: str, request: Request, reader: Reader) -> list[AlertOut]:
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
    )
    async def acknowledge(
        alert_id: uuid.UUID, body: AcknowledgeIn, request: Request, reader: Reader
    ) -> AlertChangeAccepted:
        payload = AlertAcknowledged(alert_id=alert_id, by=reader.user_id, note=body.note)
        return await change_alert(request, reader, alert_id, payload)

    @router.post(
        "/alerts/{alert_id}/close",
        status_code=202,
        response_model=AlertChangeAccepted,
        summary="Close an alert addressed to you, saying how it was followed up",
    )
    async def close(
        alert_id: uuid.UUID, body: CloseIn, request: Request, reader: Reader
    ) -> AlertChangeAccepted:
        payload = AlertClosed(alert_id=alert_id, by=reader.user_id, reason=body.reason)
        return await change_alert(request, reader, alert_id, payload)

    return router
