"""The HTTP API: the composition of every router, health and metrics.

Built by :func:`create_api` from settings; its lifespan builds the one :class:`~hub.bootstrap.Hub`
(tests may pass their own instances of the same classes) and attaches it for the routes'
typed dependencies (:mod:`hub.http.dependencies`). FHIR ingest lives in ``hub/http/fhir.py``.
"""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import datetime
from typing import Any

from confluent_kafka import KafkaException
from fastapi import FastAPI
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from hub import __version__
from hub.alerts.store import MissedAppointmentStore
from hub.bootstrap import build_hub
from hub.events import utc_now
from hub.http.alerts import alert_router
from hub.http.assignments import assignments_router
from hub.http.body_limits import NameTheLimit, too_large
from hub.http.consents import consents_router
from hub.http.dependencies import HubDep, MetricsDep, attach
from hub.http.disclosures import disclosures_router
from hub.http.erasure import erasure_router
from hub.http.fhir import fhir_router
from hub.http.held_changes import held_changes_router
from hub.http.identity import identity_router
from hub.http.metrics import metrics_registry, read_lags
from hub.http.oauth import token_router
from hub.http.openapi import (
    FHIR_ERRORS,
    KAFKA_UNCONFIRMED,
    NOT_FOUND,
    TOKEN_ERRORS,
    TOO_LARGE,
    FhirJSONResponse,
    OperationOutcome,
    documented,
    fhir_errors,
)
from hub.http.outcomes import outcomes_router
from hub.http.partners import partner_router
from hub.http.quarantine import quarantine_router
from hub.http.refusals import answer_refusals
from hub.http.stream import stream_router
from hub.http.subscriptions import subscription_router
from hub.http.team import team_router
from hub.http.web.errors import page_errors
from hub.http.web.inbox import inbox_router
from hub.http.web.outcomes import outcomes_page_router
from hub.http.web.queue import queue_router
from hub.http.web.session import NotSignedInError, session_router, sign_in_required
from hub.ingest.sink import CaseEventSink
from hub.kafka.admin import cluster_health
from hub.projections.stalls import StallWatch
from hub.settings import Settings

log = logging.getLogger(__name__)
FHIR_JSON = "application/fhir+json"
UNHEALTHY: dict[int | str, dict[str, Any]] = {
    503: {
        "description": "Not healthy: the body says which part is not (same fields as 200).",
        "content": {"application/json": {"schema": {"type": "object"}}},
    }
}


def create_api(
    settings: Settings,
    *,
    sink: CaseEventSink | None = None,
    store: MissedAppointmentStore | None = None,
    clock: Callable[[], datetime] = utc_now,
) -> FastAPI:
    # /health and /metrics share one process's observations of the positions
    # (hub/projections/stalls.py).
    watch = StallWatch(settings.stall_seconds)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        hub = build_hub(settings, sink=sink, alerts=store, clock=clock)
        attach(app, hub, metrics_registry(settings, hub.alerts.engine, watch))
        try:
            yield
        finally:
            hub.close()

    app = FastAPI(
        title="Think Family Hub",
        version=__version__,
        description="Multi-agency case-event hub: FHIR ingest, alerts and health.",
        lifespan=lifespan,
        responses=TOO_LARGE,
    )
    # The body limit of every route that does not set its own (hub/http/body_limits.py). Set on the
    # router, not as FastAPI(max_body_size=): that one also counts outside NameTheLimit,
    # whose 413 it would replace by its bare one.
    app.router.max_body_size = settings.body_limit_bytes
    app.add_middleware(NameTheLimit)

    # What routes answer besides success is declared once (hub/http/openapi.py): 401/403
    # where a route authenticates, 400/404/422 where it takes input, and per router what all
    # its routes answer (503 where they answer after Kafka confirmed).
    app.include_router(documented(token_router(settings), TOKEN_ERRORS))
    app.include_router(
        documented(fhir_router(settings), FHIR_ERRORS, model=OperationOutcome),
        default_response_class=FhirJSONResponse,
    )
    app.include_router(documented(consents_router(), KAFKA_UNCONFIRMED))
    app.include_router(documented(held_changes_router(), KAFKA_UNCONFIRMED))
    app.include_router(documented(disclosures_router(), KAFKA_UNCONFIRMED))
    app.include_router(documented(assignments_router(), KAFKA_UNCONFIRMED))
    app.include_router(documented(identity_router()))
    app.include_router(documented(erasure_router(), KAFKA_UNCONFIRMED))
    app.include_router(documented(partner_router(settings), KAFKA_UNCONFIRMED | NOT_FOUND))
    app.include_router(documented(alert_router(), KAFKA_UNCONFIRMED))
    app.include_router(documented(team_router(), KAFKA_UNCONFIRMED))
    app.include_router(documented(outcomes_router(), KAFKA_UNCONFIRMED))
    app.include_router(documented(subscription_router()))
    app.include_router(documented(quarantine_router(), KAFKA_UNCONFIRMED))
    app.include_router(documented(stream_router(settings)))
    app.include_router(inbox_router())
    app.include_router(queue_router())
    app.include_router(outcomes_page_router())
    app.include_router(session_router(settings))
    app.add_exception_handler(NotSignedInError, sign_in_required)
    app.add_exception_handler(413, too_large)
    fhir_errors(app)
    answer_refusals(app)
    page_errors(app)  # the pages' refusals as pages; after fhir_errors, whose handler it wraps

    @app.get(
        "/health",
        summary="200 when Kafka is reachable, the worker is consuming and no projection stalled",
        responses=UNHEALTHY,
    )
    def health(hub: HubDep) -> JSONResponse:
        result = cluster_health(settings)
        body: dict[str, Any] = {
            "kafka_reachable": result.kafka_reachable,
            "worker_consuming": result.worker_consuming,
            **result.detail,
        }
        stalled: list[str] = []
        if result.kafka_reachable:
            try:
                lags = read_lags(settings, hub.alerts.engine)
                stalled = [stall.reason() for stall in watch.check(lags, time.monotonic())]
            except (KafkaException, SQLAlchemyError) as error:
                stalled = [f"projection positions unreadable: {error}"]
            body["stalled"] = stalled
        # A WASPI document past its review date is a warning, not an outage (ADR 0033).
        body["agreement"] = {
            "version": hub.agreement.version,
            "overdue_reviews": hub.agreement.overdue_reviews(hub.clock().date()),
        }
        healthy = result.healthy and not stalled
        body["status"] = "ok" if healthy else "unavailable"
        return JSONResponse(body, status_code=200 if healthy else 503)

    @app.get(
        "/health/ready",
        summary="200 when this process can take input: Kafka answers and the store is reachable",
        responses=UNHEALTHY,
    )
    def ready(hub: HubDep) -> JSONResponse:
        """Readiness for a load balancer. Narrower than ``/health`` on purpose: a stalled or
        absent worker must not take the API out of service, or a worker outage would become an
        ingest outage, though what senders give us is durable in Kafka without any worker."""
        result = cluster_health(settings)
        body: dict[str, Any] = {"kafka_reachable": result.kafka_reachable}
        try:
            with hub.alerts.engine.connect() as connection:
                connection.execute(text("SELECT 1"))
            body["store_reachable"] = True
        except SQLAlchemyError as error:
            body["store_reachable"] = False
            body["store"] = f"unreachable: {type(error).__name__}"
        ok = result.kafka_reachable and body["store_reachable"]
        body["status"] = "ok" if ok else "unavailable"
        return JSONResponse(body, status_code=200 if ok else 503)

    @app.get(
        "/metrics",
        summary="Operator metrics, Prometheus text format (ADR 0018)",
        response_class=Response,  # no media type of its own: errors stay JSON
        responses={200: {"content": {"text/plain": {"schema": {"type": "string"}}}}},
    )
    def metrics(registry: MetricsDep) -> Response:
        return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)

    return app
