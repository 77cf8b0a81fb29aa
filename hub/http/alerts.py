"""HTTP routes for missed-appointment alerts: read (through the gate), acknowledge, close.

Thin over :mod:`hub.services.alerts`: reads pass every alert through the sharing gate for the
reader, with the disclosure recorded before anything is answered; acknowledging and closing are
case-events (202 once the broker has them), and the alert shows its new status once the worker
has applied it.
"""

from __future__ import annotations

import uuid
from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field

from hub.events import EventType
from hub.http.authentication import PRACTITIONER_RESPONSES, Organisation, named_practitioner
from hub.http.dependencies import (
    AlertsDep,
    ClockDep,
    Reader,
    Reference,
    SharingContextDep,
    SinkDep,
)
from hub.http.inputs import PersonKey
from hub.services import alerts as use_cases
from hub.services.alert_release import AlertOut
from hub.services.alerts import AlertChanged, acknowledgement, closure

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

    @classmethod
    def of(cls, changed: AlertChanged) -> AlertChangeAccepted:
        stated = changed.stated
        return cls(
            event_id=stated.event_id, event_type=stated.event_type, alert_id=changed.alert_id
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
        practitioner_id: str,
        reader: Reader,
        alerts: AlertsDep,
        context: SharingContextDep,
        reference: Reference,
        organisation: Organisation = None,
    ) -> AlertsOut:
        """Alerts addressed to the practitioner (or escalated to her), not yet closed. The
        practitioner is of the reader's organisation unless ``organisation`` says another."""
        practitioner = named_practitioner(reader, practitioner_id, organisation)
        shown = await use_cases.practitioner_alerts(
            alerts, context, reader, practitioner, reference=reference
        )
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
        person_key: PersonKey,
        reader: Reader,
        alerts: AlertsDep,
        context: SharingContextDep,
        reference: Reference,
    ) -> list[AlertOut]:
        """For the team around the family (key worker, social worker, lead practitioner)."""
        return await use_cases.person_alerts(
            alerts, context, reader, person_key, reference=reference
        )

    @router.post(
        "/alerts/{alert_id}/acknowledge",
        status_code=202,
        response_model=AlertChangeAccepted,
        summary="Acknowledge an alert addressed to you (stops its escalation timer)",
        responses=CHANGE_RESPONSES,
    )
    async def acknowledge(
        alert_id: uuid.UUID,
        body: AcknowledgeIn,
        reader: Reader,
        alerts: AlertsDep,
        sink: SinkDep,
        clock: ClockDep,
    ) -> AlertChangeAccepted:
        payload = acknowledgement(reader, alert_id, body.note)
        changed = await use_cases.change_alert(alerts, sink, clock, reader, alert_id, payload)
        return AlertChangeAccepted.of(changed)

    @router.post(
        "/alerts/{alert_id}/close",
        status_code=202,
        response_model=AlertChangeAccepted,
        summary="Close an alert addressed to you, saying how it was followed up",
        responses=CHANGE_RESPONSES,
    )
    async def close(
        alert_id: uuid.UUID,
        body: CloseIn,
        reader: Reader,
        alerts: AlertsDep,
        sink: SinkDep,
        clock: ClockDep,
    ) -> AlertChangeAccepted:
        payload = closure(reader, alert_id, body.reason)
        changed = await use_cases.change_alert(alerts, sink, clock, reader, alert_id, payload)
        return AlertChangeAccepted.of(changed)

    return router
