"""Who is reading: the client a request's credential proves, checked by :func:`authenticate`.

A request proves its client with ``Authorization: Bearer <API key or access token>`` (the
primary form), ``X-API-Key: <API key>``, or an access token in the ``hub_session`` cookie (the
hub's own web pages); :mod:`hub.auth.credentials` reads which, :class:`hub.auth.store.ClientStore`
checks it. The recipient every route hands to the sharing gate
(:func:`hub.http.dependencies.reader_identity`) is the registered client's organisation, role
and user — never anything the request asserts about itself. The ``X-Hub-*`` identity headers
of the interim, trusted-network identity are retired: a request carrying only them gets 401
saying so.

Every refusal is 401 with ``WWW-Authenticate: Bearer`` (RFC 6750) and says what was missing or
wrong, without telling which part of a key failed.
"""

from __future__ import annotations

from typing import Annotated, Any, Final

from fastapi import HTTPException, Query, Request
from fastapi.security import APIKeyCookie, APIKeyHeader, HTTPBearer

from hub.auth.credentials import (
    API_KEY_HEADER,
    RETIRED_HEADERS,
    SESSION_COOKIE,
    ApiKey,
    CredentialError,
    presented_credential,
)
from hub.auth.store import Client, ClientStore, TokenState
from hub.events import utc_now
from hub.practitioners import PractitionerRef
from hub.sharing.agreement import KNOWN_ROLES
from hub.sharing.policy import Recipient

# Declared for the OpenAPI document (the docs page's "Authorize"); the raw values are read
# from the request by :func:`authenticate`, so that a malformed header gets a precise message.
BEARER_SCHEME: Final = HTTPBearer(
    auto_error=False, description="An API key (hubk_...) or an access token (hubt_...)."
)
API_KEY_SCHEME: Final = APIKeyHeader(
    name=API_KEY_HEADER, auto_error=False, description="An API key."
)
SESSION_SCHEME: Final = APIKeyCookie(
    name=SESSION_COOKIE, auto_error=False, description="An access token (the hub's web pages)."
)


def _refuse(message: str, *, error: str = "invalid_token") -> HTTPException:
    return HTTPException(
        status_code=401,
        detail=message,
        headers={
            "WWW-Authenticate": f'Bearer realm="think-family-hub", error="{error}", '
            f'error_description="{message.replace(chr(34), chr(39))}"'
        },
    )


def authenticate(request: Request, clients: ClientStore) -> Client:
    """The live client the request's credential belongs to; 401 otherwise, 403 when the
    client's role is one the agreement no longer knows."""
    try:
        credential = presented_credential(
            authorization=request.headers.get("authorization"),
            api_key=request.headers.get(API_KEY_HEADER),
            session=request.cookies.get(SESSION_COOKIE),
            retired_headers=any(name in request.headers for name in RETIRED_HEADERS),
        )
    except CredentialError as problem:
        raise _refuse(str(problem), error="invalid_request") from None
    # Wall-clock time, not the app's clock: tokens expire in real time even where a test
    # moves the sharing rules' clock.
    if isinstance(credential, ApiKey):
        client = clients.authenticate_api_key(credential.key)
        if client is None:
            raise _refuse("unknown or revoked API key")
    else:
        check = clients.authenticate_access_token(credential.token, utc_now())
        if check.state is TokenState.EXPIRED:
            assert check.expired_at is not None
            raise _refuse(
                f"the access token expired at {check.expired_at.isoformat()}: get a new one "
                "from POST /oauth2/token (or sign in again)"
            )
        if check.client is None:
            raise _refuse("unknown or revoked access token")
        client = check.client
    if client.role not in KNOWN_ROLES:  # a role the agreement no longer knows
        raise HTTPException(403, f"the client's role {client.role!r} is no longer known")
    return client


Organisation = Annotated[
    str | None,
    Query(
        min_length=1,
        max_length=50,
        description="The organisation (ODS or partner code) of the practitioner the path names; "
        "by default the reader's own. A practitioner id means something only within its "
        "organisation; naming another organisation is for governance roles.",
    ),
]

PRACTITIONER_RESPONSES: Final[dict[int | str, dict[str, Any]]] = {
    401: {"description": "No credential, or one that is unknown, revoked or expired."},
    403: {
        "description": "The reader is not this practitioner (of this organisation), or not a "
        "governance role where one may read it; or the client's role is no longer known."
    },
}


def named_practitioner(
    reader: Recipient, practitioner_id: str, organisation: str | None
) -> PractitionerRef:
    """The practitioner a ``/practitioners/{practitioner_id}/...`` path names: of the reader's
    own organisation unless ``?organisation=`` names another (whether the reader may read it is
    the route's decision)."""
    return PractitionerRef(
        organisation_code=organisation or reader.organisation_code, practitioner_id=practitioner_id
    )
