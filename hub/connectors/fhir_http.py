"""FHIR R4 REST ingest: ``Patient``, ``Appointment``, ``Encounter`` and Bundles.

Create (``POST /fhir/{type}``) and update (``PUT /fhir/{type}/{id}``) answer 201 / 200 only after
Kafka confirmed the write. ``POST /fhir`` takes ``batch``, ``transaction`` and subscription
notification (``history``) Bundles: a transaction is all or nothing (one bad entry: 422 and the
whole Bundle is quarantined); a batch or notification answers per entry, quarantining each bad
one. Refused input is quarantined before the refusal is sent; if even that fails, 503.

The sender authenticates like every caller (:func:`hub.readers.reader_identity`): its events
are recorded as from the registered client's organisation. ``X-Source-Organisation`` may name
that organisation again and is refused (403) if it names another.
"""

from __future__ import annotations

import logging
from typing import Annotated, Any, Final, Literal

from fastapi import APIRouter, Depends, Header, HTTPException, Request, Response
from fastapi.responses import JSONResponse

from hub.connectors.fhir_bundle import RESOURCES, read_bundle, resource_to_event
from hub.connectors.fhir_common import MappingError, load_json
from hub.events import utc_now
from hub.publisher import PublishError
from hub.quarantine import quarantine_record
from hub.readers import reader_identity
from hub.record_limits import RecordTooLargeError
from hub.settings import Settings
from hub.sharing.policy import Recipient
from hub.sink import CaseEventSink

log = logging.getLogger(__name__)
FHIR_JSON: Final = "application/fhir+json"
ResourceType = Literal["Appointment", "Patient", "Encounter"]
assert set(ResourceType.__args__) == set(RESOURCES)  # type: ignore[attr-defined]

SourceHeader = Annotated[
    str | None,
    Header(description="ODS code of the sending organisation: the authenticated client's if given"),
]
Sender = Annotated[Recipient, Depends(reader_identity)]
FHIR_BODY: Final = {
    "requestBody": {"content": {FHIR_JSON: {"schema": {"type": "object"}}}, "required": True}
}


def operation_outcome(status: int, issues: list[tuple[str, str]], *, code: str) -> JSONResponse:
    """A FHIR OperationOutcome naming each problem by location."""
    return JSONResponse(_outcome(issues, code), status_code=status, media_type=FHIR_JSON)


def _outcome(issues: list[tuple[str, str]], code: str) -> dict[str, Any]:
    return {
        "resourceType": "OperationOutcome",
        "issue": [
            {"severity": "error", "code": code, "diagnostics": message, "expression": [location]}
            for location, message in issues
        ],
    }


def _unavailable(error: PublishError) -> JSONResponse:
    log.error("could not write to Kafka: %s", error)
    return operation_outcome(
        503, [("", f"not stored, send again later: {error}")], code="transient"
    )


def sending_organisation(sender: Recipient, claimed: str | None) -> str:
    """The organisation a FHIR write is from: the authenticated client's, never another."""
    if claimed is not None and claimed != sender.organisation_code:
        raise HTTPException(
            403,
            f"X-Source-Organisation {claimed!r} is not the authenticated client's organisation "
            f"{sender.organisation_code!r}",
        )
    return sender.organisation_code


def fhir_router(settings: Settings) -> APIRouter:
    router = APIRouter(prefix="/fhir", tags=["FHIR R4 ingest"])

    async def refuse(
        request: Request, raw: bytes, error: MappingError, organisation: str
    ) -> JSONResponse:
        record = quarantine_record(
            raw,
            channel="fhir-rest",
            reason=f"FHIR input refused: {error}",
            errors=error.issues,
            source_system=f"fhir-r4:{organisation}",
            content_type=request.headers.get("content-type"),
        )
        try:
            await request.app.state.sink.quarantine(record)
        except PublishError as publish_error:
            return _unavailable(publish_error)
        status, code = (400, "structure") if error.parse_error else (422, "invalid")
        return operation_outcome(status, error.issues, code=code)

    async def ingest(
        request: Request, resource_type: str, resource_id: str | None, organisation: str
    ) -> Response:
        raw = await request.body()
        try:
            data = load_json(raw, resource_type)
            if resource_id is not None and data.get("id") != resource_id:
                raise MappingError(
                    [
                        (
                            f"{resource_type}.id",
                            f"the body's id {data.get('id')!r} is not the URL's {resource_id!r}",
                        )
                    ]
                )
            if data.get("resourceType") != resource_type:
                raise MappingError(
                    [
                        (
                            "resourceType",
                            f"expected {resource_type!r}, got {data.get('resourceType')!r}",
                        )
                    ]
                )
            event = resource_to_event(data, organisation_code=organisation, recorded_at=utc_now())
        except MappingError as error:
            return await refuse(request, raw, error, organisation)
        sink: CaseEventSink = request.app.state.sink
        try:
            await sink.publish(event)
        except PublishError as error:
            return _unavailable(error)
        except RecordTooLargeError as error:  # for good: quarantined, 422, never "try later"
            return await refuse(
                request, raw, MappingError([(resource_type, str(error))]), organisation
            )
        headers = {"X-Hub-Event-Id": str(event.event_id)}
        if data.get("id"):
            headers["Location"] = f"/fhir/{resource_type}/{data['id']}"
        status = 200 if resource_id is not None else 201
        return Response(raw, status_code=status, media_type=FHIR_JSON, headers=headers)

    @router.post(
        "/{resource_type}",
        status_code=201,
        openapi_extra=FHIR_BODY,
        summary="Create: ingest a Patient, Appointment (noshow = missed) or Encounter",
    )
    async def create(
        request: Request,
        resource_type: ResourceType,
        sender: Sender,
        x_source_organisation: SourceHeader = None,
    ) -> Response:
        organisation = sending_organisation(sender, x_source_organisation)
        return await ingest(request, resource_type, None, organisation)

    @router.put(
        "/{resource_type}/{resource_id}",
        openapi_extra=FHIR_BODY,
        summary="Update: ingest a changed Patient, Appointment or Encounter",
    )
    async def update(
        request: Request,
        resource_type: ResourceType,
        resource_id: str,
        sender: Sender,
        x_source_organisation: SourceHeader = None,
    ) -> Response:
        organisation = sending_organisation(sender, x_source_organisation)
        return await ingest(request, resource_type, resource_id, organisation)

    @router.post(
        "",
        openapi_extra=FHIR_BODY,
        summary="A batch, transaction or subscription-notification Bundle",
    )
    async def bundle(
        request: Request, sender: Sender, x_source_organisation: SourceHeader = None
    ) -> Response:
        organisation = sending_organisation(sender, x_source_organisation)
        raw = await request.body()
        try:
            reading = read_bundle(raw, organisation_code=organisation, recorded_at=utc_now())
            if reading.atomic and reading.issues():
                raise MappingError(reading.issues())
        except MappingError as error:
            return await refuse(request, raw, error, organisation)
        sink: CaseEventSink = request.app.state.sink
        responses: list[dict[str, Any]] = []
        try:
            for entry in reading.entries:
                if entry.event is not None:
                    await sink.publish(entry.event)
                    responses.append({"response": {"status": "201 Created"}})
                else:
                    assert entry.error is not None
                    await sink.quarantine(
                        quarantine_record(
                            entry.raw,
                            channel="fhir-rest",
                            reason=f"FHIR Bundle entry {entry.index} refused: {entry.error}",
                            errors=entry.error.issues,
                            source_system=f"fhir-r4:{organisation}",
                            content_type=FHIR_JSON,
                        )
                    )
                    responses.append(
                        {
                            "response": {
                                "status": "422 Unprocessable Entity",
                                "outcome": _outcome(entry.error.issues, "invalid"),
                            }
                        }
                    )
        except PublishError as error:
            # Entries already written keep their deterministic ids: resending is safe.
            return _unavailable(error)
        kind = "transaction-response" if reading.atomic else "batch-response"
        body = {"resourceType": "Bundle", "type": kind, "entry": responses}
        return JSONResponse(body, status_code=200, media_type=FHIR_JSON)

    return router
