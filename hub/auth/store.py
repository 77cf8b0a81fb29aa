"""Registered clients, their key and token hashes, and spent assertion ids, in SQL (ADR 0012).

A **client** is one caller the hub knows: an organisation (ODS / council / charity code), the
role it reads with (one of :data:`hub.sharing.agreement.KNOWN_ROLES`) and a user id — a person
(a midwife) or, for ``PARTNER_SYSTEM``, the system's name. It may hold an API key (only its
SHA-256 is stored) and an RSA public key with its ``kid`` for signed-JWT assertions.

Access tokens are opaque and stored as their SHA-256 with an expiry; revoking a client revokes
its tokens at once (they are checked against the client on every request). Assertion ids
(``jti``) are kept until the assertion's own expiry, after which a replay is refused by ``exp``.

The tables have their own metadata, like the key store's: rebuilding projections never touches
who may call the hub. SQLite by default, PostgreSQL by URL (the same engine as the projections).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import Enum

from sqlalchemy import (
    Column,
    DateTime,
    Engine,
    MetaData,
    String,
    Table,
    Text,
    delete,
    insert,
    select,
    update,
)
from sqlalchemy.engine import Row
from sqlalchemy.exc import IntegrityError

from hub.auth.assertions import load_public_key
from hub.auth.credentials import (
    check_client_id,
    digest,
    new_access_token,
    new_api_key,
    new_client_id,
    parse_api_key,
    same_digest,
)
from hub.events import utc_now
from hub.sharing.agreement import KNOWN_ROLES
from hub.sharing.policy import Recipient
from hub.storage.schema import SchemaOnce

auth_metadata = MetaData()

clients_table = Table(
    "auth_clients",
    auth_metadata,
    Column("client_id", String(64), primary_key=True),
    Column("organisation_code", String(100), nullable=False),
    Column("role", String(50), nullable=False),
    Column("user_id", String(250), nullable=False),
    Column("api_key_hash", String(64)),
    Column("public_key_pem", Text),
    Column("kid", String(200)),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("revoked_at", DateTime(timezone=True)),
)
tokens_table = Table(
    "auth_access_tokens",
    auth_metadata,
    Column("token_hash", String(64), primary_key=True),
    Column("client_id", String(64), nullable=False, index=True),
    Column("issued_at", DateTime(timezone=True), nullable=False),
    Column("expires_at", DateTime(timezone=True), nullable=False, index=True),
    Column("revoked_at", DateTime(timezone=True)),
)
jtis_table = Table(
    "auth_assertion_jtis",
    auth_metadata,
    Column("client_id", String(64), primary_key=True),
    Column("jti", String(200), primary_key=True),
    Column("expires_at", DateTime(timezone=True), nullable=False, index=True),
)


def _utc(value: datetime | None) -> datetime | None:
    """SQLite returns naive datetimes; every time in the hub is UTC."""
    if value is None:
        return None
    return value if value.tzinfo else value.replace(tzinfo=UTC)


@dataclass(frozen=True)
class Client:
    client_id: str
    organisation_code: str
    role: str
    user_id: str
    created_at: datetime
    revoked_at: datetime | None
    has_api_key: bool
    kid: str | None
    public_key_pem: str | None

    def recipient(self) -> Recipient:
        """Who is reading, for the sharing policy."""
        return Recipient(self.organisation_code, self.role, self.user_id)


@dataclass(frozen=True)
class Registration:
    client: Client
    api_key: str  # shown once: the store keeps only its hash


class TokenState(Enum):
    VALID = "valid"
    EXPIRED = "expired"
    UNKNOWN = "unknown"  # never issued, revoked, or its client revoked


@dataclass(frozen=True)
class TokenCheck:
    state: TokenState
    client: Client | None = None
    expired_at: datetime | None = None


def _client(row: Row[tuple[object, ...]]) -> Client:
    values = row._mapping
    created = _utc(values["created_at"])
    assert created is not None
    return Client(
        client_id=values["client_id"],
        organisation_code=values["organisation_code"],
        role=values["role"],
        user_id=values["user_id"],
        created_at=created,
        revoked_at=_utc(values["revoked_at"]),
        has_api_key=values["api_key_hash"] is not None,
        kid=values["kid"],
        public_key_pem=values["public_key_pem"],
    )


class ClientStore:
    """Register, list and revoke clients; authenticate keys and tokens; spend assertion ids."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._schema = SchemaOnce(engine, auth_metadata)

    def create_schema(self) -> None:
        """Create the tables; safe when several threads or processes do it at once."""
        self._schema.create()

    def _ensure_schema(self) -> None:
        self._schema.ensure()

    def register(
        self,
        organisation_code: str,
        role: str,
        user_id: str,
        *,
        public_key_pem: str | None = None,
        kid: str | None = None,
        client_id: str | None = None,
        api_key: str | None = None,
        now: datetime | None = None,
    ) -> Registration:
        """A new client with a new API key (returned once; only its hash is kept).

        ``api_key`` provisions a key made earlier by :func:`hub.auth.credentials.new_api_key`
        for this ``client_id`` — the same client in a second database (the e2e tests' helper
        does this); it is never taken from a caller over the network.
        """
        if role not in KNOWN_ROLES:
            raise ValueError(f"unknown role {role!r}; known: {', '.join(sorted(KNOWN_ROLES))}")
        if not organisation_code.strip() or not user_id.strip():
            raise ValueError("a client needs an organisation code and a user id")
        if (public_key_pem is None) != (kid is None):
            raise ValueError("a public key needs its kid, and a kid its public key")
        if public_key_pem is not None:
            load_public_key(public_key_pem)  # refuse what could never verify an assertion
        client_id = check_client_id(client_id or new_client_id())
        if api_key is None:
            api_key = new_api_key(client_id)
        parsed = parse_api_key(api_key)
        if parsed is None or parsed.client_id != client_id:
            raise ValueError(f"the API key is not one made for client {client_id!r}")
        self._ensure_schema()
        values = {
            "client_id": client_id,
            "organisation_code": organisation_code,
            "role": role,
            "user_id": user_id,
            "api_key_hash": digest(api_key),
            "public_key_pem": public_key_pem,
            "kid": kid,
            "created_at": now or utc_now(),
            "revoked_at": None,
        }
        try:
            with self._engine.begin() as connection:
                connection.execute(insert(clients_table).values(**values))
        except IntegrityError as error:
            raise ValueError(f"client {client_id!r} is already registered") from error
        client = self.get(client_id)
        assert client is not None
        return Registration(client, api_key)

    def get(self, client_id: str) -> Client | None:
        self._ensure_schema()
        with self._engine.connect() as connection:
            row = connection.execute(
                select(clients_table).where(clients_table.c.client_id == client_id)
            ).first()
        return None if row is None else _client(row)

    def clients(self) -> list[Client]:
        self._ensure_schema()
        with self._engine.connect() as connection:
            rows = connection.execute(
                select(clients_table).order_by(
                    clients_table.c.organisation_code, clients_table.c.created_at
                )
            ).all()
        return [_client(row) for row in rows]

    def revoke(self, client_id: str, at: datetime | None = None) -> bool:
        """Revoke a client, its API key and every access token it holds; False if unknown."""
        self._ensure_schema()
        at = at or utc_now()
        with self._engine.begin() as connection:
            changed = connection.execute(
                update(clients_table)
                .where(clients_table.c.client_id == client_id, clients_table.c.revoked_at.is_(None))
                .values(revoked_at=at)
            ).rowcount
            connection.execute(
                update(tokens_table)
                .where(tokens_table.c.client_id == client_id, tokens_table.c.revoked_at.is_(None))
                .values(revoked_at=at)
            )
        return changed > 0 or self.get(client_id) is not None

    def replace_api_key(self, client_id: str) -> str:
        """A new API key for a live client; the old one stops working at once."""
        self._ensure_schema()
        api_key = new_api_key(client_id)
        with self._engine.begin() as connection:
            changed = connection.execute(
                update(clients_table)
                .where(clients_table.c.client_id == client_id, clients_table.c.revoked_at.is_(None))
                .values(api_key_hash=digest(api_key))
            ).rowcount
        if not changed:
            raise LookupError(f"no live client {client_id!r}")
        return api_key

    def _live(self, client_id: str) -> tuple[Client, str | None] | None:
        self._ensure_schema()
        with self._engine.connect() as connection:
            row = connection.execute(
                select(clients_table).where(
                    clients_table.c.client_id == client_id, clients_table.c.revoked_at.is_(None)
                )
            ).first()
        return None if row is None else (_client(row), row._mapping["api_key_hash"])

    def live_client(self, client_id: str) -> Client | None:
        """The client if registered and not revoked."""
        found = self._live(client_id)
        return None if found is None else found[0]

    def authenticate_api_key(self, key: str) -> Client | None:
        """The live client an API key belongs to, or None (unknown, wrong or revoked alike)."""
        parsed = parse_api_key(key)
        if parsed is None:
            return None
        found = self._live(parsed.client_id)
        if found is None or found[1] is None or not same_digest(found[1], key):
            return None
        return found[0]

    def issue_access_token(
        self, client_id: str, ttl: timedelta, now: datetime | None = None
    ) -> tuple[str, datetime]:
        """A new opaque access token for a live client and when it expires (kept hashed)."""
        if self.live_client(client_id) is None:
            raise LookupError(f"no live client {client_id!r}")
        now = now or utc_now()
        token, expires_at = new_access_token(), now + ttl
        with self._engine.begin() as connection:
            connection.execute(delete(tokens_table).where(tokens_table.c.expires_at < now))
            connection.execute(
                insert(tokens_table).values(
                    token_hash=digest(token),
                    client_id=client_id,
                    issued_at=now,
                    expires_at=expires_at,
                )
            )
        return token, expires_at

    def authenticate_access_token(self, token: str, now: datetime | None = None) -> TokenCheck:
        """Whether a token is valid now, and for which client."""
        self._ensure_schema()
        now = now or utc_now()
        with self._engine.connect() as connection:
            row = connection.execute(
                select(tokens_table).where(tokens_table.c.token_hash == digest(token))
            ).first()
        if row is None or row.revoked_at is not None:
            return TokenCheck(TokenState.UNKNOWN)
        expires_at = _utc(row.expires_at)
        assert expires_at is not None
        if expires_at <= now:
            return TokenCheck(TokenState.EXPIRED, expired_at=expires_at)
        client = self.live_client(row.client_id)
        if client is None:
            return TokenCheck(TokenState.UNKNOWN)
        return TokenCheck(TokenState.VALID, client)

    def revoke_access_token(self, token: str, at: datetime | None = None) -> None:
        """Sign a web session out: the token stops working at once."""
        self._ensure_schema()
        with self._engine.begin() as connection:
            connection.execute(
                update(tokens_table)
                .where(tokens_table.c.token_hash == digest(token))
                .values(revoked_at=at or utc_now())
            )

    def spend_jti(self, client_id: str, jti: str, expires_at: datetime, now: datetime) -> bool:
        """Record an assertion id as used; False if it was used before (a replay).

        Ids whose assertions have expired are forgotten: such an assertion is refused by its
        ``exp`` anyway, so the table holds at most five minutes of assertions.
        """
        self._ensure_schema()
        try:
            with self._engine.begin() as connection:
                connection.execute(delete(jtis_table).where(jtis_table.c.expires_at <= now))
                connection.execute(
                    insert(jtis_table).values(client_id=client_id, jti=jti, expires_at=expires_at)
                )
        except IntegrityError:
            return False
        return True
