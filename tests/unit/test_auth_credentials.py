"""API keys, access tokens, the Authorization header and signed-JWT assertions, as pure
functions (ADR 0012)."""

from __future__ import annotations

import hashlib
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from hub.auth.assertions import (
    ASSERTION_TYPE,
    MAX_ASSERTION_CHARS,
    TokenRequestError,
    check_token_form,
    claimed_by,
    load_public_key,
    verify_assertion,
)
from hub.auth.credentials import (
    AccessToken,
    ApiKey,
    CredentialError,
    digest,
    new_access_token,
    new_api_key,
    parse_api_key,
    presented_credential,
    same_digest,
)

NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
AUDIENCE = "https://hub.example/oauth2/token"
CLIENT = "0123456789abcdef"


def _rsa() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def _pem(key: rsa.RSAPrivateKey) -> str:
    return (
        key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )


KEY = _rsa()
OTHER_KEY = _rsa()


def _assertion(key: Any = KEY, kid: str = "k1", algorithm: str = "RS512", **overrides: Any) -> str:
    claims: dict[str, Any] = {
        "iss": CLIENT,
        "sub": CLIENT,
        "aud": AUDIENCE,
        "jti": str(uuid.uuid4()),
        "exp": int((NOW + timedelta(minutes=4)).timestamp()),
        **overrides,
    }
    claims = {name: value for name, value in claims.items() if value is not None}
    return jwt.encode(claims, key, algorithm=algorithm, headers={"kid": kid})


def _verify(assertion: str, kid: str = "k1") -> None:
    verify_assertion(
        assertion, public_key_pem=_pem(KEY), kid=kid, client_id=CLIENT, audience=AUDIENCE, now=NOW
    )


def test_an_api_key_names_its_client_and_is_stored_as_its_sha256() -> None:
    key = new_api_key(CLIENT)
    assert key.startswith(f"hubk_{CLIENT}_")
    assert len(key.removeprefix(f"hubk_{CLIENT}_")) >= 43  # 32 random bytes, base64url
    assert parse_api_key(key) == ApiKey(CLIENT, key)
    assert digest(key) == hashlib.sha256(key.encode()).hexdigest()
    assert same_digest(digest(key), key)
    assert not same_digest(digest(key), key[:-1] + ("A" if key[-1] != "A" else "B"))
    assert new_api_key(CLIENT) != key
    assert new_access_token().startswith("hubt_")


@pytest.mark.parametrize(
    "value", ["", "hubk_", f"hubk_{CLIENT}", f"hubk_{CLIENT}_", "hubk_UPPER_secret", "key"]
)
def test_what_is_not_an_api_key(value: str) -> None:
    assert parse_api_key(value) is None


def test_the_authorization_header_comes_first_then_x_api_key_then_the_cookie() -> None:
    key, token = new_api_key(CLIENT), new_access_token()
    assert presented_credential(
        authorization=f"Bearer {key}", api_key=None, session=token
    ) == ApiKey(CLIENT, key)
    assert presented_credential(
        authorization=f"bearer  {token} ", api_key=None, session=None
    ) == AccessToken(token)
    assert presented_credential(authorization=None, api_key=key, session=token) == ApiKey(
        CLIENT, key
    )
    assert presented_credential(authorization=None, api_key=None, session=token) == AccessToken(
        token
    )


@pytest.mark.parametrize(
    ("authorization", "api_key", "session", "retired", "message"),
    [
        (None, None, None, False, "no credentials"),
        (None, None, None, True, "retired"),
        ("Basic dXNlcjpwYXNz", None, None, False, "must be 'Bearer"),
        ("Bearer", None, None, False, "must be 'Bearer"),
        ("Bearer not-a-key", None, None, False, "unknown or revoked API key"),
        (None, "hubk_nope", None, False, "unknown or revoked API key"),
        (None, None, "something", False, "holds no access token"),
    ],
)
def test_what_is_missing_or_wrong_is_named(
    authorization: str | None, api_key: str | None, session: str | None, retired: bool, message: str
) -> None:
    with pytest.raises(CredentialError, match=message):
        presented_credential(
            authorization=authorization, api_key=api_key, session=session, retired_headers=retired
        )


def test_a_good_assertion_verifies() -> None:
    jti = str(uuid.uuid4())
    verified = verify_assertion(
        _assertion(jti=jti),
        public_key_pem=_pem(KEY),
        kid="k1",
        client_id=CLIENT,
        audience=AUDIENCE,
        now=NOW,
    )
    assert verified.jti == jti
    assert verified.client_id == CLIENT
    assert verified.expires_at == NOW + timedelta(minutes=4)
    assert claimed_by(_assertion()).client_id == CLIENT


@pytest.mark.parametrize(
    ("assertion", "error", "fragment"),
    [
        (lambda: _assertion(kid="k2"), "invalid_client", "'kid'"),
        (lambda: _assertion(key=OTHER_KEY), "invalid_client", "signature"),
        (lambda: _assertion(aud="https://elsewhere/oauth2/token"), "invalid_client", "'aud'"),
        (lambda: _assertion(iss="someone-else"), "invalid_client", "'iss'"),
        (lambda: _assertion(sub="someone-else"), "invalid_client", "'sub'"),
        (lambda: _assertion(exp=int(NOW.timestamp()) - 1), "invalid_client", "expired"),
        (
            lambda: _assertion(exp=int((NOW + timedelta(minutes=5, seconds=1)).timestamp())),
            "invalid_request",
            "more than 300 s",
        ),
        (lambda: _assertion(jti=None), "invalid_request", "jti"),
        (lambda: _assertion(exp=None), "invalid_request", "exp"),
        (
            lambda: _assertion(nbf=int((NOW + timedelta(minutes=1)).timestamp())),
            "invalid_client",
            "nbf",
        ),
        (
            lambda: _assertion(
                key=b"a shared secret, sixty-four bytes long, for the HS512 check ok!!",
                algorithm="HS512",
            ),
            "invalid_client",
            "RS512",
        ),
        (lambda: _assertion(key=_rsa(), algorithm="RS256"), "invalid_client", "RS512"),
        # 'iat': minted ahead of time to be used later, or kept and replayed long after.
        (lambda: _assertion(iat=_at(minutes=1, seconds=1)), "invalid_client", "in the future"),
        (lambda: _assertion(iat=_at(days=365)), "invalid_client", "in the future"),
        (lambda: _assertion(iat=_at(minutes=-6, seconds=-1)), "invalid_client", "issued more"),
        (lambda: _assertion(iat=0), "invalid_client", "issued more"),
        (lambda: _assertion(iat="yesterday"), "invalid_request", "'iat'"),
    ],
)
def test_assertions_that_do_not_prove_the_client_are_refused(
    assertion: Any, error: str, fragment: str
) -> None:
    with pytest.raises(TokenRequestError) as refused:
        _verify(assertion())
    assert refused.value.error == error
    assert fragment in refused.value.description
    assert refused.value.status == (401 if error == "invalid_client" else 400)


def _at(**delta: float) -> int:
    return int((NOW + timedelta(**delta)).timestamp())


@pytest.mark.parametrize(
    "iat", [_at(minutes=1), _at(), _at(minutes=-6), None], ids=["skew", "now", "6 min", "absent"]
)
def test_an_iat_within_the_skew_and_the_lifetime_or_none_is_taken(iat: int | None) -> None:
    _verify(_assertion(iat=iat))


def test_an_assertion_longer_than_any_real_one_is_not_parsed() -> None:
    form = {
        "grant_type": "client_credentials",
        "client_assertion_type": ASSERTION_TYPE,
        "client_assertion": _assertion(padding="x" * MAX_ASSERTION_CHARS),
    }
    with pytest.raises(TokenRequestError, match=f"longer than {MAX_ASSERTION_CHARS}"):
        check_token_form(form)
    check_token_form({**form, "client_assertion": _assertion()})


def test_an_unsigned_assertion_is_refused() -> None:
    unsigned = jwt.encode(
        {"iss": CLIENT, "sub": CLIENT, "aud": AUDIENCE, "jti": "j", "exp": NOW.timestamp() + 60},
        "",
        algorithm="none",
        headers={"kid": "k1"},
    )
    with pytest.raises(TokenRequestError, match="RS512"):
        _verify(unsigned)


def test_not_a_jwt_is_an_invalid_request() -> None:
    with pytest.raises(TokenRequestError) as refused:
        claimed_by("not.a.jwt")
    assert refused.value.error == "invalid_request"


@pytest.mark.parametrize(
    ("form", "error"),
    [
        ({}, "invalid_request"),
        ({"grant_type": "password"}, "unsupported_grant_type"),
        ({"grant_type": "client_credentials"}, "invalid_request"),
        (
            {"grant_type": "client_credentials", "client_assertion_type": ASSERTION_TYPE},
            "invalid_request",
        ),
    ],
)
def test_token_requests_missing_parameters_are_refused(form: dict[str, str], error: str) -> None:
    with pytest.raises(TokenRequestError) as refused:
        check_token_form(form)
    assert refused.value.error == error
    assert refused.value.status == 400


def test_only_rsa_public_keys_of_2048_bits_or_more_register() -> None:
    assert load_public_key(_pem(KEY)).key_size == 2048
    with pytest.raises(ValueError, match="not a PEM"):
        load_public_key("-----BEGIN PUBLIC KEY-----\nnope\n-----END PUBLIC KEY-----\n")
    ec_pem = (
        ec.generate_private_key(ec.SECP256R1())
        .public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )
    with pytest.raises(ValueError, match="RSA"):
        load_public_key(ec_pem)
