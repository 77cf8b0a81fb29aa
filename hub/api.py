"""The HTTP API: health, FHIR ingest, and a practitioner's open alerts.

Built by :func:`create_api` from settings (the composition root passes real adapters; tests may
pass their own instances of the same classes). FHIR ingest lives in
``hub/connectors/fhir_http.py``.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import date, datetime
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from hub import __version__
from hub.connectors.fhir_http import fhir_router
from hub.kafka_admin import cluster_health
from hub.projections.store import AlertView, MissedAppointmentStore, make_engine
from hub.publisher import KafkaPublisher
from hub.settings import Settings
from hub.sink import CaseEventSink

log = logging.getLogger(__name__)
FHIR_JSON = "application/fhir+json"


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
    status: str
    person: PersonOut
    appointment: AppointmentOut
    missed_at: datetime
    raised_at: datetime
    source_system: str
    organisation_code: str
    recipients: list[str]


class AlertsOut(BaseModel):
    practitioner_id: str
    alerts: list[AlertOut]


def _alert_out(view: AlertView) -> AlertOut:
    alert, person, appointment = view.alert, view.person, view.alert.appointment
    return AlertOut(
        alert_id=str(alert.alert_id),
        status=alert.status,
        person=PersonOut(
            nhs_number=person.nhs_number,
            given_name=person.given_name,
            family_name=person.family_name,
            birth_date=person.birth_date,
        ),
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
        source_system=alert.source_system,
        organisation_code=alert.organisation_code,
        recipients=sorted(alert.recipients),
    )


def create_api(
    settings: Settings,
    *,
    sink: CaseEventSink | None = None,
    store: MissedAppointmentStore | None = None,
) -> FastAPI:
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        publisher = None
        if sink is None:
            publisher = KafkaPublisher(
                settings.bootstrap_servers(),
                client_id="hub-api",
                timeout_s=settings.publish_timeout_seconds,
            )
        app.state.sink = sink or CaseEventSink(publisher, settings)  # type: ignore[arg-type]
        if store is None:
            own_store = MissedAppointmentStore(make_engine(settings.resolved_database_url()))
            own_store.create_schema()
            app.state.store = own_store
        else:
            app.state.store = store
        try:
            yield
        finally:
            if publisher is not None:
                publisher.close()

    app = FastAPI(
        title="Think Family Hub",
        version=__version__,
        description="Multi-agency case-event hub: FHIR ingest, alerts and health.",
        lifespan=lifespan,
    )

    app.include_router(fhir_router(settings))

    @app.get("/health", summary="200 when Kafka is reachable and the worker is consuming")
    def health() -> JSONResponse:
        result = cluster_health(settings)
        body: dict[str, Any] = {
            "status": "ok" if result.healthy else "unavailable",
            "kafka_reachable": result.kafka_reachable,
            "worker_consuming": result.worker_consuming,
            **result.detail,
        }
        return JSONResponse(body, status_code=200 if result.healthy else 503)

    @app.get(
        "/practitioners/{practitioner_id}/alerts",
        response_model=AlertsOut,
        summary="Open missed-appointment alerts addressed to a practitioner",
    )
    def practitioner_alerts(practitioner_id: str, request: Request) -> AlertsOut:
        the_store: MissedAppointmentStore = request.app.state.store
        views = the_store.open_alerts_for(practitioner_id)
        return AlertsOut(practitioner_id=practitioner_id, alerts=[_alert_out(v) for v in views])

    return app
