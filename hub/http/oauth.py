"""``POST /oauth2/token``: OAuth2 client credentials with a signed-JWT client assertion.

The request is form-encoded (``application/x-www-form-urlencoded``)::

    grant_type=client_credentials
    client_assertion_type=urn:ietf:params:oauth:client-assertion-type:jwt-bearer
    client_assertion=<JWT signed RS512 with the client's private key>

and the answer ``{"access_token": "hubt_...", "expires_in": 600, "token_type": "bearer"}``.
Errors are RFC 6749 section 5.2 JSON (``{"error": ..., "error_description": ...}``), 400 or
401. The checks are :mod:`hub.auth.assertions` (pure); this module finds the client's key,
spends the ``jti`` and issues the token.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any, Final
from urllib.parse import parse_qs

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from hub.auth.assertions import (
    TokenRequestError,
    check_token_form,
    claimed_by,
    invalid_client,
    invalid_request,
    verify_assertion,
)
from hub.auth.store import ClientStore
from hub.events import utc_now
from hub.http.dependencies import ClientsDep
from hub.settings import Settings

FORM: Final = "application/x-www-form-urlencoded"
NO_STORE: Final = {"Cache-Control": "no-store", "Pragma": "no-cache"}
TOKEN_REQUEST_BODY: Final = {
    "requestBody": {
        "required": True,
        "content": {
            FORM: {
                "schema": {
                    "type": "object",
                    "required": ["grant_type", "client_assertion_type", "client_assertion"],
                    "properties": {
                        "grant_type": {"type": "string", "enum": ["client_credentials"]},
                        "client_assertion_type": {"type": "string"},
                        "client_assertion": {"type": "string", "description": "Signed JWT"},
                    },
                }
            }
        },
    }
}


def _form(body: bytes) -> dict[str, str]:
    """Form fields; a field given twice is refused (RFC 6749 section 3.2)."""
    try:
        fields = parse_qs(body.decode("utf-8"), keep_blank_values=True, strict_parsing=False)
    except UnicodeDecodeError as error:
        raise invalid_request("the form is not UTF-8") from error
    repeated = sorted(name for name, values in fields.items() if len(values) > 1)
    if repeated:
        raise invalid_request(f"parameters given more than once: {', '.join(repeated)}")
    return {name: values[0] for name, values in fields.items()}


def _error(error: TokenRequestError) -> JSONResponse:
    body = {"error": error.error, "error_description": error.description}
    return JSONResponse(body, status_code=error.status, headers=NO_STORE)


def token_router(settings: Settings) -> APIRouter:
    router = APIRouter(tags=["Authentication"])

    @router.post(
        "/oauth2/token",
        openapi_extra=TOKEN_REQUEST_BODY,
        max_body_size=settings.body_limit_token_bytes,
        summary="An access token for a client that proves itself with a signed JWT",
    )
    async def token(request: Request, clients: ClientsDep) -> JSONResponse:
        """OAuth2 client credentials, client authenticated by a signed-JWT assertion."""
        content_type = request.headers.get("content-type", "").split(";")[0].strip()
        if content_type != FORM:
            return _error(invalid_request(f"send the request as {FORM}"))
        body = await request.body()  # at most settings.body_limit_token_bytes
        # Decoding, RSA verification and the store are blocking work: off the event loop, so
        # that a burst of token requests does not stall every other route.
        return await run_in_threadpool(_issue, body, clients)

    def _issue(body: bytes, clients: ClientStore) -> JSONResponse:
        try:
            assertion = check_token_form(_form(body))
            claimed = claimed_by(assertion)
            client = clients.live_client(claimed.client_id)
            if client is None or client.public_key_pem is None or client.kid is None:
                raise invalid_client("unknown or revoked client, or no public key registered")
            now = utc_now()
            verified = verify_assertion(
                assertion,
                public_key_pem=client.public_key_pem,
                kid=client.kid,
                client_id=client.client_id,
                audience=settings.resolved_token_url(),
                now=now,
            )
            if not clients.spend_jti(client.client_id, verified.jti, verified.expires_at, now):
                raise invalid_request("the assertion's 'jti' was used before: make a new one")
            ttl = timedelta(seconds=settings.access_token_seconds)
            access_token, _ = clients.issue_access_token(client.client_id, ttl, now)
        except TokenRequestError as error:
            return _error(error)
        answer: dict[str, Any] = {
            "access_token": access_token,
            "expires_in": settings.access_token_seconds,
            "token_type": "bearer",
        }
        return JSONResponse(answer, headers=NO_STORE)

    return router
