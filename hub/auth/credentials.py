"""Credentials, as pure functions: making and hashing API keys and access tokens, and reading
what a request presents (ADR 0012).

* An **API key** is ``hubk_<client id>_<secret>``, the secret 32 random bytes from
  :func:`secrets.token_urlsafe`. It is shown once, when the client is registered; the hub keeps
  only its SHA-256. The client id inside the key finds the row; the hash is then compared in
  constant time (:func:`hmac.compare_digest`).
* An **access token** is ``hubt_<secret>`` (32 random bytes), issued by ``POST /oauth2/token``
  or to a web page's session; kept as its SHA-256 with an expiry, so it can be revoked.

Why plain SHA-256 and not a password hash (bcrypt, scrypt, Argon2): those are slow on purpose
so that a stolen table of *low-entropy human passwords* cannot be searched by guessing. Our
secrets are 256-bit random values; guessing one is 2^256 work whatever the hash costs, so a
slow hash would add only latency to every request. A hash is still kept rather than the secret
so that a leaked database (or backup) does not hand out working credentials.

Presented as ``Authorization: Bearer <API key or access token>`` (the primary form), or
``X-API-Key: <API key>``, or an access token in the ``hub_session`` cookie (the hub's own web
pages). :func:`presented_credential` decides which one a request carries.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass
from typing import Final

API_KEY_PREFIX: Final = "hubk_"
ACCESS_TOKEN_PREFIX: Final = "hubt_"  # noqa: S105 - a prefix, not a secret
SESSION_COOKIE: Final = "hub_session"
API_KEY_HEADER: Final = "X-API-Key"
RETIRED_HEADERS: Final = ("X-Hub-Organisation", "X-Hub-Role", "X-Hub-User")
# Client ids carry no underscore: the key's first underscore after the prefix ends the id.
CLIENT_ID_PATTERN: Final = re.compile(r"^[a-z0-9][a-z0-9-]{0,63}$")
HOW_TO_AUTHENTICATE: Final = (
    "send 'Authorization: Bearer <API key or access token>' (an API key from `hub clients add`, "
    "or an access token from POST /oauth2/token)"
)


class CredentialError(ValueError):
    """What a request presented is not a usable credential; the message says what to send."""


@dataclass(frozen=True)
class ApiKey:
    client_id: str
    key: str


@dataclass(frozen=True)
class AccessToken:
    token: str


Credential = ApiKey | AccessToken


def digest(secret: str) -> str:
    """The stored form of a key or token: SHA-256, hex (see the module docstring for why)."""
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


def same_digest(stored: str, secret: str) -> bool:
    """Constant-time comparison of a stored digest with a presented secret's."""
    return hmac.compare_digest(stored.encode("ascii"), digest(secret).encode("ascii"))


def new_client_id() -> str:
    return secrets.token_hex(8)


def check_client_id(client_id: str) -> str:
    if not CLIENT_ID_PATTERN.fullmatch(client_id):
        raise ValueError(
            f"client id {client_id!r}: lower-case letters, digits and '-', at most 64 characters"
        )
    return client_id


def new_api_key(client_id: str) -> str:
    """A fresh API key for ``client_id``: shown once, stored only as :func:`digest`."""
    return f"{API_KEY_PREFIX}{check_client_id(client_id)}_{secrets.token_urlsafe(32)}"


def new_access_token() -> str:
    return f"{ACCESS_TOKEN_PREFIX}{secrets.token_urlsafe(32)}"


def parse_api_key(value: str) -> ApiKey | None:
    """The client id an API key names, or None if ``value`` is not shaped like one."""
    if not value.startswith(API_KEY_PREFIX):
        return None
    client_id, separator, secret = value.removeprefix(API_KEY_PREFIX).partition("_")
    if not separator or not secret or not CLIENT_ID_PATTERN.fullmatch(client_id):
        return None
    return ApiKey(client_id, value)


def _credential(value: str) -> Credential:
    if value.startswith(ACCESS_TOKEN_PREFIX):
        return AccessToken(value)
    key = parse_api_key(value)
    if key is None:
        raise CredentialError("unknown or revoked API key")  # says nothing about which part
    return key


def presented_credential(
    *,
    authorization: str | None,
    api_key: str | None,
    session: str | None,
    retired_headers: bool = False,
) -> Credential:
    """The one credential a request carries, in order: Authorization, X-API-Key, cookie.

    ``retired_headers``: the request carries an ``X-Hub-*`` identity header, which the hub used
    to trust before partner authentication; it is named in the error so callers know to move.
    """
    if authorization:
        scheme, _, value = authorization.strip().partition(" ")
        if scheme.lower() != "bearer" or not value.strip():
            raise CredentialError(
                f"the Authorization header must be 'Bearer <API key or access token>', "
                f"not {scheme!r}"
            )
        return _credential(value.strip())
    if api_key:
        key = parse_api_key(api_key.strip())
        if key is None:
            raise CredentialError("unknown or revoked API key")
        return key
    if session:
        if not session.startswith(ACCESS_TOKEN_PREFIX):
            raise CredentialError(f"the {SESSION_COOKIE} cookie holds no access token: sign in")
        return AccessToken(session)
    if retired_headers:
        raise CredentialError(
            f"the {'/'.join(RETIRED_HEADERS)} headers were retired and are no longer trusted: "
            f"{HOW_TO_AUTHENTICATE}"
        )
    raise CredentialError(f"no credentials: {HOW_TO_AUTHENTICATE}")
