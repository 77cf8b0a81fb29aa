"""The HTTP API: health, FHIR ingest, and a practitioner's open alerts.

Built by :func:`create_api` from settings (the composition root passes real adapters; tests may
pass their own instances of the same classes). FHIR ingest lives in
``hub/connectors/fhir_http.py``.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import date, datetime
from typing import Annotated, Any

from fastapi import Depends, FastAPI, HTTPException, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from hub import __version__
from hub.auth.routes import token_router
from hub.auth.store import ClientStore
from hub.connectors.fhir_http import fhir_router
from hub.connectors.partners import DEFAULT_PARTNERS_DIR, load_partners
from hub.connectors.voluntary.routes import Receipts, partner_router
from hub.erasure.keystore import SubjectKeyStore
from hub.erasure.routes import erasure_router
from hub.events import DataCategory, Purpose, utc_now
from hub.identity.routes import identity_router
from hub.identity.store import IdentityStore
from hub.kafka_admin import cluster_health
from hub.projections.store import AlertView, MissedAppointmentStore, make_engine
from hub.publisher import KafkaPublisher
from hub.readers import reader_identity
from hub.settings import Settings
from hub.sharing.agreement import DEFAULT_AGREEMENT, GOVERNANCE_ROLES, load_agreement
from hub.sharing.disclosure import Channel
from hub.sharing.gate import Item
from hub.sharing.policy import Recipient, Subject
from hub.sharing.routes import record_disclosures, release_now, sharing_router
from hub.sharing.store import SharingStore
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
    person: PersonOut | None  # None: the reader may not see the person's demographics
    appointment: AppointmentOut
    missed_at: datetime
    raised_at: datetime
    source_system: str
    organisation_code: str
    recipients: list[str]


class AlertsOut(BaseModel):
    practitioner_id: str
    alerts: list[AlertOut]


def _alert_out(view: AlertView, *, with_person: bool) -> AlertOut:
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
        source_system=alert.source_system,
        organisation_code=alert.organisation_code,
        recipients=sorted(alert.recipients),
    )


def create_api(
    settings: Settings,
    *,
    sink: CaseEventSink | None = None,
    store: MissedAppointmentStore | None = None,
    clock: Callable[[], datetime] = utc_now,
) -> FastAPI:
    agreement = load_agreement(settings.agreement_path or DEFAULT_AGREEMENT)
    partners = load_partners(settings.partners_dir or DEFAULT_PARTNERS_DIR)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        app.state.agreement = agreement
        app.state.clock = clock
        the_store = store or MissedAppointmentStore(make_engine(settings.resolved_database_url()))
        the_store.create_schema()
        app.state.store = the_store
        app.state.sharing = SharingStore(the_store.engine)
        app.state.identity = IdentityStore(the_store.engine)
        app.state.keys = keys = SubjectKeyStore(the_store.engine)
        app.state.clients = clients = ClientStore(the_store.engine)
        clients.create_schema()
        app.state.partners = partners
        app.state.webhook_receipts = Receipts(the_store.engine)
        publisher = None
        the_sink = sink
        if the_sink is None:
            publisher = KafkaPublisher(
                settings.bootstrap_servers(),
                client_id="hub-api",
                timeout_s=settings.publish_timeout_seconds,
            )
            # Seals with the key store the erasure route shreds: one engine, not two.
            the_sink = CaseEventSink(publisher, settings, keys)
        app.state.sink = the_sink
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

    app.include_router(token_router(settings))
    app.include_router(fhir_router(settings))
    app.include_router(sharing_router())
    app.include_router(identity_router())
    app.include_router(erasure_router())
    app.include_router(partner_router(settings))

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
    async def practitioner_alerts(
        practitioner_id: str,
        request: Request,
        reader: Annotated[Recipient, Depends(reader_identity)],
    ) -> AlertsOut:
        """Each alert passes the sharing gate for the reader, and is recorded as a disclosure.

        An alert whose appointment the reader may not see is left out; one whose demographics it
        may not see is shown without them.
        """
        if reader.user_id != practitioner_id and reader.role not in GOVERNANCE_ROLES:
            raise HTTPException(403, "alerts are read by the practitioner they are addressed to")
        the_store: MissedAppointmentStore = request.app.state.store
        views = the_store.open_alerts_for(practitioner_id)
        shown = await _released_alerts(request, reader, views)
        return AlertsOut(practitioner_id=practitioner_id, alerts=shown)

    @app.get(
        "/people/{person_key:path}/alerts",
        response_model=list[AlertOut],
        summary="Missed-appointment alerts about a person, as far as the reader may see them",
    )
    async def person_alerts(
        person_key: str, request: Request, reader: Annotated[Recipient, Depends(reader_identity)]
    ) -> list[AlertOut]:
        """For the team around the family (key worker, social worker, lead practitioner)."""
        the_store: MissedAppointmentStore = request.app.state.store
        identity: IdentityStore = request.app.state.identity
        keys = identity.same_person(person_key)  # follows merges
        views = [view for key in keys for view in the_store.alerts_about(key)]
        return await _released_alerts(request, reader, views)

    async def _released_alerts(
        request: Request, reader: Recipient, views: list[AlertView]
    ) -> list[AlertOut]:
        """Each alert through the sharing gate for ``reader``; every release recorded first."""
        identity: IdentityStore = request.app.state.identity
        by_subject: dict[str, list[AlertView]] = {}
        for view in views:
            by_subject.setdefault(view.alert.subject_key, []).append(view)
        released: set[str] = set()
        disclosures = []
        for key, subject_views in by_subject.items():  # one decision set and record per person
            subject = Subject(key)
            same_person = identity.same_person(key)  # consent follows merges
            items: list[Item[str]] = []
            for view in subject_views:
                alert_id, controller = str(view.alert.alert_id), view.alert.organisation_code
                items.append(Item(DataCategory.APPOINTMENTS, controller, alert_id))
                items.append(
                    Item(
                        DataCategory.DEMOGRAPHICS, controller, f"{alert_id}/person", len(items) - 1
                    )
                )
            outcome = release_now(
                request,
                reader,
                subject,
                items,
                channel=Channel.API,
                purpose=Purpose.DIRECT_CARE,
                reference=f"GET {request.url.path} alerts "
                + ",".join(str(v.alert.alert_id) for v in subject_views),
                also=same_person,
            )
            released.update(outcome.released)
            if outcome.disclosure is not None:
                disclosures.append(outcome.disclosure)
        shown = [
            _alert_out(view, with_person=f"{view.alert.alert_id}/person" in released)
            for view in views
            if str(view.alert.alert_id) in released
        ]
        await record_disclosures(request, disclosures)
        return shown

    return app
