"""FHIR R4 REST ingest: ``Patient``, ``Appointment``, ``Encounter``, ``CareTeam``,
``EpisodeOfCare`` and Bundles.

Create (``POST /fhir/{type}``) and update (``PUT /fhir/{type}/{id}``) answer 201 / 200 only after
Kafka confirmed the write, with ``Location: /fhir/{type}/{id}/_history/{vid}``, ``ETag: W/"{vid}"``
and ``Last-Modified`` as FHIR's REST API asks, and the resource with that ``id`` and
``meta.versionId`` (see :func:`resource_version`). ``POST /fhir`` takes ``batch``,
``transaction`` and subscription notification (``history``) Bundles: a transaction is all or
nothing (one bad entry: 422 and the whole Bundle is quarantined); a batch or notification
answers per entry, quarantining each bad one. Refused input is quarantined before the refusal
is sent; if even that fails, 503.

The sender authenticates like every caller (:func:`hub.http.dependencies.reader_identity`):
its events are recorded as from the registered client's organisation. ``X-Source-Organisation``
may name that organisation again and is refused (403) if it names another. Which practitioners a
resource names to the team, and as what, is read with that organisation's source file
(``[practitioner_roles]`` in ``config/sources/``, ADR 0021).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable
from dataclasses import dataclass, replace
from email.utils import format_datetime
from typing import Annotated, Any, Final, Literal, TypeVar

from fastapi import APIRouter, Header, HTTPException, Request, Response
from fastapi.responses import JSONResponse

from hub.connectors.fhir.bundle import NO_ROLES, RESOURCES, read_bundle, resource_to_events
from hub.connectors.fhir.common import load_json
from hub.connectors.sdk import RecordError
from hub.connectors.sources import PractitionerRoles, load_sources
from hub.erasure.keystore import ErasureInProgressError
from hub.events import CaseEvent, deterministic_event_id, utc_now
from hub.http.dependencies import Reader, SinkDep
from hub.ingest.record_limits import RecordTooLargeError
from hub.ingest.sink import CaseEventSink, Published
from hub.kafka.publisher import PublishError
from hub.quarantine import quarantine_record
from hub.settings import Settings
from hub.sharing.policy import Recipient

log = logging.getLogger(__name__)
FHIR_JSON: Final = "application/fhir+json"
ACCEPTED_MEDIA_TYPES: Final = (FHIR_JSON, "application/json")
ResourceType = Literal["Appointment", "Patient", "Encounter", "CareTeam", "EpisodeOfCare"]
E = TypeVar("E", bound=Exception)
assert set(ResourceType.__args__) == set(RESOURCES)  # type: ignore[attr-defined]

SourceHeader = Annotated[
    str | None,
    Header(description="ODS code of the sending organisation: the authenticated client's if given"),
]
Sender = Reader
FHIR_BODY: Final = {
    "requestBody": {
        "content": {media: {"schema": {"type": "object"}} for media in ACCEPTED_MEDIA_TYPES},
        "required": True,
    },
    "responses": {"415": {"description": "Not FHIR JSON: an OperationOutcome names what is taken"}},
}


@dataclass(frozen=True)
class ResourceVersion:
    """The id and version a FHIR write is answered with."""

    resource_type: str
    id: str
    version_id: str

    @property
    def location(self) -> str:
        return f"/fhir/{self.resource_type}/{self.id}/_history/{self.version_id}"

    @property
    def etag(self) -> str:
        return f'W/"{self.version_id}"'


def resource_version(
    resource_type: str, data: dict[str, Any], event: CaseEvent, organisation: str
) -> ResourceVersion:
    """The resource's own ``id``, or one the hub derives from what identifies the record.

    The hub keeps no copy of a resource (it keeps the case-event it stands for), so neither is
    stored: a resource without an ``id`` gets a UUIDv5 of the sending organisation, the type
    and the record's identity (its business identifier, or the patient's NHS number), the same
    whenever it is sent again, so a client can update it by that id. The version is the
    case-event's id, derived from the content: the same content is the same version, a change
    is a new one (not a counter: the hub cannot count versions it does not keep).
    """
    own = data.get("id")
    assigned = str(
        deterministic_event_id("fhir-id", organisation, resource_type, event.source_record_id)
    )
    return ResourceVersion(
        resource_type, own if isinstance(own, str) and own else assigned, str(event.event_id)
    )


_VERSION_HEADERS: Final = {
    "Location": {
        "description": "/fhir/{type}/{id}/_history/{vid}: the id and version written",
        "schema": {"type": "string"},
    },
    "ETag": {"description": 'W/"{vid}": the version written', "schema": {"type": "string"}},
    "Last-Modified": {"description": "when the hub received it", "schema": {"type": "string"}},
}


def _written(status: int, what: str) -> dict[int | str, dict[str, Any]]:
    """The success with its headers; the refusals every /fhir route answers are declared
    where the router is included (hub/openapi_responses.FHIR_ERRORS)."""
    return {status: {"description": what, "headers": _VERSION_HEADERS}}


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


def _first(results: Iterable[Published], kind: type[E]) -> E | None:
    """The first of ``results`` that is a ``kind``: a refusal of
    :meth:`~hub.ingest.sink.CaseEventSink.publish_many`."""
    return next((result for result in results if isinstance(result, kind)), None)


def _unavailable(error: PublishError) -> JSONResponse:
    log.error("could not write to Kafka: %s", error)
    return operation_outcome(
        503, [("", f"not stored, send again later: {error}")], code="transient"
    )


def media_type_problem(content_type: str | None) -> str | None:
    """Why a FHIR write's ``Content-Type`` is not taken (None: it is JSON, any charset)."""
    media_type = (content_type or "").split(";", 1)[0].strip().lower()
    if media_type in ACCEPTED_MEDIA_TYPES:
        return None
    return (
        f"Content-Type {content_type!r} is not accepted: send FHIR JSON as "
        f"{' or '.join(ACCEPTED_MEDIA_TYPES)}"
    )


def _unsupported(request: Request) -> JSONResponse | None:
    problem = media_type_problem(request.headers.get("content-type"))
    return (
        None if problem is None else operation_outcome(415, [("", problem)], code="not-supported")
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
    sources = load_sources(settings.sources_dir) if settings.sources_dir else load_sources()

    def roles_of(organisation: str) -> PractitionerRoles:
        source = sources.for_organisation(organisation)
        return source.practitioner_roles if source is not None else NO_ROLES

    def systems_of(organisation: str) -> frozenset[str]:
        source = sources.for_organisation(organisation)
        return frozenset(source.identifier_systems.values()) if source else frozenset()

    async def refuse(
        request: Request, sink: CaseEventSink, raw: bytes, error: RecordError, organisation: str
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
            await sink.quarantine(record)
        except PublishError as publish_error:
            return _unavailable(publish_error)
        status, code = (400, "structure") if error.unreadable else (422, "invalid")
        return operation_outcome(status, error.issues, code=code)

    async def ingest(
        request: Request,
        sink: CaseEventSink,
        resource_type: str,
        resource_id: str | None,
        organisation: str,
    ) -> Response:
        if (refused := _unsupported(request)) is not None:
            return refused
        raw = await request.body()
        try:
            data = load_json(raw, resource_type)
            if resource_id is not None and data.get("id") != resource_id:
                raise RecordError(
                    [
                        (
                            f"{resource_type}.id",
                            f"the body's id {data.get('id')!r} is not the URL's {resource_id!r}",
                        )
                    ]
                )
            if data.get("resourceType") != resource_type:
                raise RecordError(
                    [
                        (
                            "resourceType",
                            f"expected {resource_type!r}, got {data.get('resourceType')!r}",
                        )
                    ]
                )
            events = resource_to_events(
                data,
                organisation_code=organisation,
                recorded_at=utc_now(),
                roles=roles_of(organisation),
                identifier_systems=systems_of(organisation),
            )
        except RecordError as error:
            return await refuse(request, sink, raw, error, organisation)
        try:
            # One batch, its acks awaited together; the resource's own event last (team
            # changes first): one key's events keep their order.
            results = await sink.publish_many(events)
        except PublishError as error:
            return _unavailable(error)
        if (too_large := _first(results, RecordTooLargeError)) is not None:
            # for good: quarantined, 422, never "try later"
            return await refuse(
                request, sink, raw, RecordError([(resource_type, str(too_large))]), organisation
            )
        if (erasing := _first(results, PublishError)) is not None:
            return _unavailable(erasing)
        version = resource_version(resource_type, data, events[-1], organisation)
        headers = {
            "X-Hub-Event-Id": str(events[-1].event_id),
            "Location": version.location,
            "ETag": version.etag,
            "Last-Modified": format_datetime(events[-1].recorded_at, usegmt=True),
        }
        meta: dict[str, Any] = data["meta"] if isinstance(data.get("meta"), dict) else {}
        answer = {**data, "id": version.id, "meta": {**meta, "versionId": version.version_id}}
        status = 200 if resource_id is not None else 201
        return Response(
            json.dumps(answer), status_code=status, media_type=FHIR_JSON, headers=headers
        )

    @router.post(
        "/{resource_type}",
        status_code=201,
        openapi_extra=FHIR_BODY,
        responses=_written(201, "Written: the resource, with its id and meta.versionId"),
        max_body_size=settings.body_limit_fhir_resource_bytes,
        summary="Create: ingest a Patient, Appointment (noshow = missed), Encounter, CareTeam or "
        "EpisodeOfCare",
    )
    async def create(
        request: Request,
        resource_type: ResourceType,
        sender: Sender,
        sink: SinkDep,
        x_source_organisation: SourceHeader = None,
    ) -> Response:
        organisation = sending_organisation(sender, x_source_organisation)
        return await ingest(request, sink, resource_type, None, organisation)

    @router.put(
        "/{resource_type}/{resource_id}",
        openapi_extra=FHIR_BODY,
        responses=_written(200, "Written: the resource, with meta.versionId"),
        max_body_size=settings.body_limit_fhir_resource_bytes,
        summary="Update: ingest a changed Patient, Appointment, Encounter, CareTeam or "
        "EpisodeOfCare",
    )
    async def update(
        request: Request,
        resource_type: ResourceType,
        resource_id: str,
        sender: Sender,
        sink: SinkDep,
        x_source_organisation: SourceHeader = None,
    ) -> Response:
        organisation = sending_organisation(sender, x_source_organisation)
        return await ingest(request, sink, resource_type, resource_id, organisation)

    @router.post(
        "",
        openapi_extra=FHIR_BODY,
        max_body_size=settings.body_limit_fhir_bundle_bytes,
        summary="A batch, transaction or subscription-notification Bundle",
    )
    async def bundle(
        request: Request, sender: Sender, sink: SinkDep, x_source_organisation: SourceHeader = None
    ) -> Response:
        organisation = sending_organisation(sender, x_source_organisation)
        if (refused := _unsupported(request)) is not None:
            return refused
        raw = await request.body()
        try:
            reading = read_bundle(
                raw,
                organisation_code=organisation,
                recorded_at=utc_now(),
                roles=roles_of(organisation),
                identifier_systems=systems_of(organisation),
            )
            if reading.atomic and reading.issues():
                raise RecordError(reading.issues())
        except RecordError as error:
            return await refuse(request, sink, raw, error, organisation)
        events = [event for entry in reading.entries for event in entry.events]
        # All or nothing: an entry too large for the log refuses them all.
        if reading.atomic and (too_big := await sink.first_too_large(events)) is not None:
            return await refuse(
                request, sink, raw, RecordError([("Bundle", str(too_big))]), organisation
            )
        responses: list[dict[str, Any]] = []
        try:
            # Every entry's events as one batch: one sealing hop, their acks awaited together.
            published = await sink.publish_many(events)
            if (erasing := _first(published, ErasureInProgressError)) is not None:
                raise erasing  # someone named is being erased: the whole Bundle, later
            results = iter(published)
            for entry in reading.entries:
                mine = [next(results) for _ in entry.events]
                if (too_large := _first(mine, RecordTooLargeError)) is not None:
                    # for good: this entry, not the batch
                    entry = replace(
                        entry, events=(), error=RecordError([("Bundle.entry", str(too_large))])
                    )
                if entry.events:
                    resource = json.loads(entry.raw)["resource"]
                    version = resource_version(
                        resource["resourceType"], resource, entry.events[-1], organisation
                    )
                    responses.append(
                        {
                            "response": {
                                "status": "201 Created",
                                "location": version.location,
                                "etag": version.etag,
                            }
                        }
                    )
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
