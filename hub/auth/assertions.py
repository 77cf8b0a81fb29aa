"""OAuth2 client credentials with a signed-JWT client assertion, as NHS England's
application-restricted APIs do it (RFC 7523 "private key JWT"); the checks as pure functions.

The client signs a short-lived JWT with its private key and posts it to ``/oauth2/token``:

* header: ``alg`` RS512, ``kid`` naming the key registered for the client;
* claims: ``iss`` = ``sub`` = the client id, ``aud`` = the token endpoint's URL, a unique
  ``jti``, and ``exp`` in the future but no more than five minutes ahead; an ``iat``, if
  given, no later than now (a minute's clock skew allowed) and no more than five minutes ago.

PyJWT parses and verifies the signature (never hand-written JWT parsing); the time checks are
ours, against the ``now`` the caller passes, so tests state the time instead of sleeping. The
one stateful check — a ``jti`` is used once — belongs to the store.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Final

import jwt
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPublicKey
from cryptography.hazmat.primitives.serialization import load_pem_public_key

ASSERTION_TYPE: Final = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
GRANT_TYPE: Final = "client_credentials"
ALGORITHM: Final = "RS512"
MAX_LIFETIME: Final = timedelta(minutes=5)
REQUIRED_CLAIMS: Final = ("iss", "sub", "aud", "exp", "jti")
CLOCK_SKEW: Final = timedelta(minutes=1)
# An RS512 assertion signed with a 4096-bit key is about 1.2 KB; nothing longer is parsed.
MAX_ASSERTION_CHARS: Final = 8 * 1024


class TokenRequestError(Exception):
    """An RFC 6749 section 5.2 error: ``error`` code, a description, and the HTTP status."""

    def __init__(self, error: str, description: str, status: int = 400) -> None:
        super().__init__(f"{error}: {description}")
        self.error = error
        self.description = description
        self.status = status


def invalid_client(description: str) -> TokenRequestError:
    return TokenRequestError("invalid_client", description, 401)


def invalid_request(description: str) -> TokenRequestError:
    return TokenRequestError("invalid_request", description, 400)


@dataclass(frozen=True)
class Claimed:
    """Who an assertion *says* it is from, before anything is verified: to find their key."""

    client_id: str
    kid: str


@dataclass(frozen=True)
class Verified:
    client_id: str
    jti: str
    expires_at: datetime


def load_public_key(pem: str) -> RSAPublicKey:
    """An RSA public key from PEM, or ValueError naming what is wrong (for registration)."""
    try:
        key = load_pem_public_key(pem.encode("utf-8"))
    except (ValueError, TypeError) as error:
        raise ValueError(f"not a PEM public key: {error}") from error
    if not isinstance(key, RSAPublicKey):
        raise ValueError(f"{ALGORITHM} needs an RSA public key, not {type(key).__name__}")
    if key.key_size < 2048:
        raise ValueError(f"the RSA key has {key.key_size} bits; at least 2048 are needed")
    return key


def check_token_form(form: dict[str, str]) -> str:
    """The client assertion from a token request's form fields, once they are as required."""
    grant_type = form.get("grant_type")
    if not grant_type:
        raise invalid_request("grant_type is missing")
    if grant_type != GRANT_TYPE:
        raise TokenRequestError(
            "unsupported_grant_type", f"grant_type must be {GRANT_TYPE!r}, not {grant_type!r}"
        )
    if form.get("client_assertion_type") != ASSERTION_TYPE:
        raise invalid_request(f"client_assertion_type must be {ASSERTION_TYPE!r}")
    assertion = form.get("client_assertion")
    if not assertion:
        raise invalid_request("client_assertion is missing")
    if len(assertion) > MAX_ASSERTION_CHARS:
        raise invalid_request(f"client_assertion is longer than {MAX_ASSERTION_CHARS} characters")
    return assertion


def claimed_by(assertion: str) -> Claimed:
    """The issuer and key id an assertion names, read *without* verifying it."""
    try:
        header = jwt.get_unverified_header(assertion)
        claims = jwt.decode(assertion, options={"verify_signature": False})
    except jwt.InvalidTokenError as error:
        raise invalid_request(f"client_assertion is not a JWT: {error}") from error
    kid, issuer = header.get("kid"), claims.get("iss")
    if not isinstance(kid, str) or not kid:
        raise invalid_request("the client_assertion header has no 'kid'")
    if not isinstance(issuer, str) or not issuer:
        raise invalid_request("the client_assertion has no 'iss' claim")
    return Claimed(issuer, kid)


def _timestamp(claims: dict[str, Any], name: str) -> datetime:
    value = claims[name]
    if not isinstance(value, int | float) or isinstance(value, bool):
        raise invalid_request(f"the {name!r} claim must be a number of seconds since the epoch")
    return datetime.fromtimestamp(value, UTC)


def verify_assertion(
    assertion: str,
    *,
    public_key_pem: str,
    kid: str,
    client_id: str,
    audience: str,
    now: datetime,
) -> Verified:
    """Verify signature, ``kid``, ``iss``/``sub``, ``aud`` and times; the ``jti`` to spend.

    Raises :class:`TokenRequestError`: ``invalid_client`` (401) when the assertion does not
    prove the client (key, signature, issuer, audience, expired), ``invalid_request`` (400)
    when it is malformed or asks for too long a life.
    """
    if claimed_by(assertion).kid != kid:
        raise invalid_client("the assertion's 'kid' is not the key registered for this client")
    try:
        claims: dict[str, Any] = jwt.decode(
            assertion,
            key=load_public_key(public_key_pem),
            algorithms=[ALGORITHM],
            audience=audience,
            issuer=client_id,
            options={
                "require": list(REQUIRED_CLAIMS),
                # Times are checked below against the caller's clock.
                "verify_exp": False,
                "verify_nbf": False,
                "verify_iat": False,
            },
        )
    except jwt.MissingRequiredClaimError as error:
        raise invalid_request(f"the assertion lacks a required claim: {error}") from error
    except jwt.InvalidSignatureError as error:
        raise invalid_client("the assertion's signature does not verify") from error
    except jwt.InvalidAlgorithmError as error:
        raise invalid_client(f"the assertion must be signed with {ALGORITHM}") from error
    except jwt.InvalidAudienceError as error:
        raise invalid_client(f"the assertion's 'aud' must be {audience!r}") from error
    except jwt.InvalidIssuerError as error:
        raise invalid_client("the assertion's 'iss' is not the client") from error
    except jwt.InvalidTokenError as error:
        raise invalid_client(f"the assertion does not verify: {error}") from error
    if claims["sub"] != client_id:
        raise invalid_client("the assertion's 'sub' must equal its 'iss' (the client id)")
    jti = claims["jti"]
    if not isinstance(jti, str) or not jti:
        raise invalid_request("the 'jti' claim must be a non-empty string")
    expires_at = _timestamp(claims, "exp")
    if expires_at <= now:
        raise invalid_client(f"the assertion expired at {expires_at.isoformat()}")
    if expires_at > now + MAX_LIFETIME:
        raise invalid_request(
            f"the 'exp' claim is more than {int(MAX_LIFETIME.total_seconds())} s in the future"
        )
    if "nbf" in claims and _timestamp(claims, "nbf") > now:
        raise invalid_client("the assertion is not valid yet ('nbf')")
    if "iat" in claims:
        issued_at = _timestamp(claims, "iat")
        if issued_at > now + CLOCK_SKEW:
            raise invalid_client(f"the assertion is issued in the future ('iat' {issued_at})")
        if issued_at < now - MAX_LIFETIME - CLOCK_SKEW:
            raise invalid_client(
                f"the assertion was issued more than {int(MAX_LIFETIME.total_seconds())} s "
                f"ago ('iat' {issued_at}): make a new one"
            )
    return Verified(client_id, jti, expires_at)
