"""Partner ingest over HTTP: a Standard Webhooks endpoint and CSV upload per organisation.

``POST /partners/{code}/webhooks`` verifies the ``webhook-id``, ``webhook-timestamp`` and
``webhook-signature`` headers with the partner's secret (HMAC-SHA256 over id, timestamp and
body, via the ``standardwebhooks`` library; timestamps more than 5 minutes from now are
refused), refuses a repeated ``webhook-id`` without publishing again, and answers:

* 401 — unsigned, wrongly signed or stale (nothing is kept: it is not the partner speaking),
  with the reason (missing headers, too old or too new, no matching signature, malformed
  signature header, body not UTF-8);
* 400 — a ``webhook-id`` longer than 200 characters;
* 422 — signed but the content is wrong, naming each field, or a consent or withdrawal the
  sharing policy refused (ADR 0019); the body is quarantined first;
* 202 — after Kafka acknowledged the event (503 if it did not: send again).

The body is ``{"type": "<event>", "timestamp": "...", "data": {<fields>}}`` (the Standard
Webhooks payload shape); ``data`` holds the connector's fields, ``type`` its ``event``.

``POST /partners/{code}/uploads`` takes a CSV file (``text/csv``; or an ``.xlsx`` workbook for a
feed whose connector reads one, the ``tabular`` connector's) from someone of that
organisation (an authenticated client of that organisation, ADR 0012), maps every row,
quarantines the refused ones with file, line and field, and answers after every write was
acknowledged with what was published and what was refused.
"""

from __future__ import annotations

import io
import logging
from typing import Annotated, Any, Final

from fastapi import APIRouter, HTTPException, Path, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from hub.connectors.outcomes import Refused, translate
from hub.connectors.partners import PartnerFeed, webhook_record
from hub.connectors.receipts import MAX_ID_LENGTH
from hub.connectors.runtime import deliver, published_events
from hub.connectors.sdk import InputError
from hub.events import utc_now
from hub.http.dependencies import ChangeStoresDep, PartnersDep, Reader, ReceiptsDep, SinkDep
from hub.http.openapi import TOO_LARGE, UNSUPPORTED, ErrorOut, unprocessable
from hub.kafka.publisher import PublishError
from hub.quarantine import quarantine_record
from hub.services.sharing_changes import screen_partner_changes
from hub.settings import Settings

log = logging.getLogger(__name__)

Code = Annotated[str, Path(description="The partner organisation's code.")]
XLSX: Final = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
CSV_BODY: Final = {
    "requestBody": {
        "required": True,
        "content": {
            "text/csv": {"schema": {"type": "string"}},
            XLSX: {"schema": {"type": "string", "format": "binary"}},
        },
    }
}


class WebhookRefused(BaseModel):
    """A signed delivery whose content is wrong: each field named (and quarantined)."""

    webhook_id: str
    errors: list[dict[str, str]]


WEBHOOK_REFUSALS: Final[dict[int | str, dict[str, Any]]] = {
    400: {"model": ErrorOut, "description": "A webhook-id longer than 200 characters."},
    401: {"model": ErrorOut, "description": "Unsigned, wrongly signed or stale: the reason."},
    422: {"model": WebhookRefused, "description": "Signed, but the content is wrong."},
}


def _feed(feeds: dict[str, PartnerFeed], code: str) -> PartnerFeed:
    if code not in feeds:
        raise HTTPException(404, f"no partner feed for {code!r} (config/partners/)")
    return feeds[code]


def _unavailable(error: PublishError) -> JSONResponse:
    log.error("could not write to Kafka: %s", error)
    return JSONResponse({"detail": f"not stored, send again later: {error}"}, status_code=503)


def _issues(refused: Refused) -> list[dict[str, str]]:
    return [{"field": name, "message": message} for name, message in refused.issues]


def _verify(secret: str, body: bytes, headers: dict[str, str]) -> None:
    """401 with a reason unless the partner signed this body at about this time."""
    try:
        body.decode("utf-8")
    except UnicodeDecodeError:
        raise HTTPException(401, "webhook not verified: the body is not UTF-8") from None
    try:
        Webhook(secret).verify(body, headers, json_parse=False)
    except WebhookVerificationError as error:  # missing headers, stale, no matching signature
        raise HTTPException(401, f"webhook not verified: {error}") from None
    except ValueError:  # the library's unpacking and base64 decoding of the signature header
        raise HTTPException(
            401,
            "webhook not verified: malformed webhook-signature header "
            "(expected space-separated 'v1,<base64>')",
        ) from None


def partner_router(settings: Settings) -> APIRouter:
    router = APIRouter(prefix="/partners", tags=["Partner ingest"])

    @router.post(
        "/{code}/webhooks",
        status_code=202,
        max_body_size=settings.body_limit_webhook_bytes,
        responses=WEBHOOK_REFUSALS,
    )
    async def webhook(
        request: Request,
        code: Code,
        feeds: PartnersDep,
        receipts: ReceiptsDep,
        stores: ChangeStoresDep,
        sink: SinkDep,
    ) -> JSONResponse:
        """A Standard Webhooks delivery from a partner's system."""
        feed = _feed(feeds, code)
        secret = settings.webhook_secrets.get(code)
        if secret is None:
            raise HTTPException(404, f"no webhook secret configured for {code!r}")
        body = await request.body()
        _verify(secret.get_secret_value(), body, dict(request.headers))
        message_id = request.headers["webhook-id"]
        if len(message_id) > MAX_ID_LENGTH:  # the receipts column; PostgreSQL would refuse it
            raise HTTPException(400, f"webhook-id is longer than {MAX_ID_LENGTH} characters")
        if receipts.seen(code, message_id):
            return JSONResponse({"webhook_id": message_id, "duplicate": True}, status_code=202)
        record = webhook_record(body, message_id)
        outcomes = list(translate(feed.connector, feed.config, [record], utc_now()))
        outcomes = screen_partner_changes(
            stores, code, outcomes, f"webhook {message_id}", channel="webhook"
        )
        try:
            outcomes = await deliver(sink, outcomes, channel="webhook", system=feed.config.system)
        except PublishError as error:
            return _unavailable(error)
        [outcome] = outcomes
        if isinstance(outcome, Refused):
            return JSONResponse({"webhook_id": message_id, "errors": _issues(outcome)}, 422)
        receipts.remember(code, message_id)
        ids = [str(event.event_id) for event in outcome.events]
        return JSONResponse({"webhook_id": message_id, "event_ids": ids}, status_code=202)

    @router.post(
        "/{code}/uploads",
        max_body_size=settings.upload_max_bytes,
        responses=TOO_LARGE | UNSUPPORTED,
        openapi_extra=CSV_BODY,
    )
    async def upload(
        request: Request,
        code: Code,
        reader: Reader,
        feeds: PartnersDep,
        stores: ChangeStoresDep,
        sink: SinkDep,
    ) -> JSONResponse:
        """A CSV file (text/csv) of the partner's records, mapped row by row; an .xlsx workbook
        where the partner's connector reads one (415 names what it takes)."""
        feed = _feed(feeds, code)
        if reader.organisation_code != code:
            raise HTTPException(403, f"{reader.organisation_code} cannot upload for {code}")
        media = request.headers.get("content-type", "").split(";")[0].strip().lower()
        if media not in feed.connector.upload_types:
            raise HTTPException(415, f"send the file as {' or '.join(feed.connector.upload_types)}")
        body = await request.body()  # at most settings.upload_max_bytes (hub/http/body_limits.py)
        name = request.headers.get("x-filename", "upload.csv")
        try:
            records = list(feed.connector.read_with(io.BytesIO(body), name, feed.config))
        except InputError as error:  # a file no row of which can be read: kept whole, then 422
            unreadable = quarantine_record(
                body,
                channel="upload",
                reason=f"{'CSV' if media == 'text/csv' else '.xlsx'} upload refused: {error}",
                errors=(("body", str(error)),),
                source_system=feed.config.system,
                content_type=media,
            )
            try:
                await sink.quarantine(unreadable)
            except PublishError as publish_error:
                return _unavailable(publish_error)
            raise unprocessable(("body",), str(error), name) from None
        outcomes = screen_partner_changes(
            stores,
            code,
            list(translate(feed.connector, feed.config, records, utc_now())),
            f"upload {name}",
            channel="upload",
        )
        try:
            outcomes = await deliver(sink, outcomes, channel="upload", system=feed.config.system)
        except PublishError as error:
            return _unavailable(error)
        published = published_events(outcomes)
        refused = [o for o in outcomes if isinstance(o, Refused)]
        return JSONResponse(
            {
                "records": len(outcomes),
                "published": published,
                "refused": [{"at": o.record.location, "errors": _issues(o)} for o in refused],
            }
        )

    return router
