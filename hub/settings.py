"""Runtime configuration, read once from ``HUB_*`` environment variables.

Every process (API, worker, CLI) builds one :class:`Settings` in its composition root and
passes it down; nothing reads the environment anywhere else, so tests can run several
configurations side by side in one interpreter.
"""

from __future__ import annotations

import ipaddress
from pathlib import Path
from typing import Annotated

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from hub.storage.kek import LocalKek, kek_file, parse_kek

# The worker's take window when ``HUB_WORKER_BATCH_WITHIN_MS`` is unset, by store (ADR 0053): a
# PostgreSQL commit is a round trip and a flush, and larger batches paid there; SQLite's is in
# the process, and there the window is what an idle hub adds to each alert (ADR 0039).
SQLITE_BATCH_WITHIN_MS = 20.0
POSTGRESQL_BATCH_WITHIN_MS = 100.0


def default_state_dir() -> Path:
    """Where local state lives (broker jars and data, the SQLite store) unless configured."""
    return Path.home() / ".cache" / "think-family-hub"


class Settings(BaseSettings):
    """The hub's settings. Defaults are the embedded ones ``make run`` uses."""

    model_config = SettingsConfigDict(env_prefix="HUB_", extra="ignore", populate_by_name=True)

    kafka_bootstrap_servers: str | None = Field(
        default=None,
        validation_alias="KAFKA_BOOTSTRAP_SERVERS",
        description="An existing Kafka cluster; when unset the hub starts its own local broker.",
    )
    schema_registry_url: str | None = Field(
        default=None,
        description="Confluent-compatible schema registry; when set, events use the Confluent "
        "wire format, otherwise Avro single-object encoding.",
    )
    state_dir: Path = Field(default_factory=default_state_dir)
    kafka_jars_dir: Path | None = Field(
        default=None,
        description="Where the local broker's jars are fetched to (once) and read from; "
        "state_dir/kafka-jars if unset. Point a fresh state_dir at an existing cache to start "
        "without fetching.",
    )
    database_url: SecretStr | None = Field(
        default=None,
        description="SQLAlchemy URL of the projection store; a SQLite file in state_dir if unset. "
        "Secret because it usually carries the database password: a repr of the settings, or a "
        "traceback showing them, does not print it.",
    )
    key_store_url: SecretStr | None = Field(
        default=None,
        description="SQLAlchemy URL of the key store (subjects' data keys, ADR 0009/0020), kept "
        "apart from the projection store so that a copy of one is not a copy of the other; a "
        "SQLite file keys.sqlite3 in state_dir if unset.",
    )
    key_encryption_key: SecretStr | None = Field(
        default=None,
        description="The key-encryption key that wraps every stored data key and webhook "
        "secret (base64 of 32 random bytes, e.g. `openssl rand -base64 32`, from a secret "
        "manager); if unset, the file key-encryption-key in state_dir, created 0600 on first "
        "run. Losing it loses every sealed record (ADR 0020).",
    )
    quarantine_retention_days: float = Field(
        default=30,
        gt=0,
        description="How long the quarantine and dead-letter topics keep records (retention.ms, "
        "set when the hub creates them). Refused input that names no NHS number is kept in "
        "clear, so this is the limit on how long it can name anyone (ADR 0020). The error "
        "queue purges its items last seen longer ago (ADR 0030).",
    )
    case_events_topic: str = "hub.case-events.v1"
    quarantine_topic: str = "hub.quarantine.v1"
    dead_letter_topic: str = "hub.dead-letter.v1"
    disclosures_topic: str = "hub.disclosures.v1"
    family_events_topic: str = "hub.family-events.v1"
    agreement_path: Path | None = Field(
        default=None,
        description="The data-sharing agreement (TOML); config/sharing/agreement.toml if unset.",
    )
    topic_partitions: int = 3
    topic_replication_factor: int = 1
    worker_group: str = "hub-projections"
    worker_instance_id: str | None = Field(
        default=None,
        description="Static group membership (KIP-345): a worker restarted with the same id "
        "(e.g. a StatefulSet pod name) takes its partitions back at once, without waiting for "
        "the broker to time the old member out; unique per live worker.",
    )
    mllp_host: str = "127.0.0.1"
    mllp_port: int = 2575
    sources_dir: Path | None = Field(
        default=None,
        description="Directory of per-source TOML files; the repository's config/sources if unset.",
    )
    partners_dir: Path | None = Field(
        default=None,
        description="Directory of per-partner feed TOML files; config/partners if unset.",
    )
    webhook_secrets: dict[str, SecretStr] = Field(
        default_factory=dict,
        description='Webhook signing secret per partner organisation, as JSON: {"CODE": '
        '"whsec_<base64>"} (Standard Webhooks). A partner without one has no webhook.',
    )
    upload_max_bytes: int = Field(
        default=20_000_000,
        ge=0,
        description="Largest CSV upload body (POST /partners/{code}/uploads), counted as it "
        "streams: 413 once it is passed, before the rest is read.",
    )
    body_limit_fhir_resource_bytes: int = Field(
        default=4 * 1024 * 1024,
        ge=0,
        description="Largest body of a FHIR create or update (the MLLP listener's message limit).",
    )
    body_limit_fhir_bundle_bytes: int = Field(
        default=16 * 1024 * 1024, ge=0, description="Largest FHIR Bundle body (POST /fhir)."
    )
    body_limit_webhook_bytes: int = Field(
        default=256 * 1024,
        ge=0,
        description="Largest partner webhook body: the route is reached before the signature "
        "is checked, so it is read by anyone; one record is far smaller.",
    )
    body_limit_token_bytes: int = Field(
        default=16 * 1024,
        ge=0,
        description="Largest /oauth2/token form (unauthenticated; an RS512 assertion is ~1 KB).",
    )
    body_limit_bytes: int = Field(
        default=64 * 1024, ge=0, description="Largest body of every other route (JSON commands)."
    )
    http_header_timeout_seconds: float = Field(
        default=10.0,
        gt=0,
        description="An HTTP connection that has not finished a request's headers this long "
        "after it opened (or after its previous response) is closed.",
    )
    http_keep_alive_seconds: int = Field(
        default=5, ge=1, description="An idle keep-alive HTTP connection is closed after this."
    )
    http_max_connections: int = Field(
        default=1000,
        ge=1,
        description="Open HTTP connections (and requests in progress) beyond this are answered "
        "503 (uvicorn's limit_concurrency).",
    )
    http_backlog: int = Field(
        default=2048, ge=1, description="Connections the kernel queues before the API accepts."
    )
    mllp_idle_timeout_seconds: float = Field(
        default=120.0,
        gt=0,
        description="An MLLP connection on which no complete message arrives for this long (of "
        "opening, or of the last acknowledgement) is closed: a sender that started a message "
        "and stopped holds nothing for ever.",
    )
    mllp_max_connections_per_address: int = Field(
        default=20,
        ge=1,
        description="Open MLLP connections one source address may hold; more are closed at once.",
    )
    mllp_group_window_ms: float = Field(
        default=2.0,
        ge=0,
        le=50,
        description="While other messages' events are being published, the events of messages "
        "arriving on any connection within this long are published with them, as one group "
        "(ADR 0028); each is acknowledged once the whole group is in Kafka. A message that "
        "arrives when nothing is being published does not wait.",
    )
    mllp_processes: int = Field(
        default=1,
        ge=1,
        le=64,
        description="MLLP listener processes sharing HUB_MLLP_PORT (Linux SO_REUSEPORT: the "
        "kernel spreads new connections over them), each with its own producer and key-store "
        "connections; `hub run` starts this many `hub mllp`. Above 1, each `hub mllp` binds "
        "with SO_REUSEPORT, so that many can share the port (ADR 0042).",
    )
    mllp_group_max_events: int = Field(
        default=500,
        ge=1,
        description="A group commit is published at once when it holds this many events.",
    )
    alert_grace_minutes: float = Field(
        default=30,
        description="A booked appointment with no arrival, attendance, cancellation or "
        "reschedule this long after its start is an inferred no-show.",
    )
    alert_escalate_after_missed: int = Field(
        default=2, ge=1, description="Escalate when a person misses this many appointments..."
    )
    alert_escalate_within_days: float = Field(default=28, description="...within this many days.")
    alert_escalate_unacknowledged_hours: float = Field(
        default=24, description="Escalate an alert nobody acknowledged within this many hours."
    )
    alert_sweep_seconds: float = Field(
        default=30, description="How often the worker checks for inferred no-shows and escalations."
    )
    subscription_retry_schedule: list[Annotated[float, Field(ge=0)]] = Field(
        default_factory=lambda: [5.0, 300.0, 1800.0, 7200.0, 18000.0, 36000.0, 36000.0],
        description="Seconds to wait after each failed webhook attempt before the next (JSON "
        "list); when it is used up the change goes to the dead-letter list. The default tries "
        "8 times over about 27 hours (Standard Webhooks / Svix), so an outage of hours heals.",
    )
    subscription_timeout_seconds: float = Field(
        default=10.0, gt=0, description="How long one webhook attempt waits for the receiver."
    )
    subscription_interval_seconds: float = Field(
        default=5.0, gt=0, description="How often the worker pushes new changes to webhooks."
    )
    partner_topic_clients: list[str] = Field(
        default_factory=list,
        description="Registered client ids that get their own compacted Avro topic of the alerts "
        'they may see, hub.partner.<client id>.alerts.v1 (JSON list, e.g. ["a1b2c3"]).',
    )
    subscription_allowed_networks: list[str] = Field(
        default_factory=list,
        description="Private networks webhooks may be sent to, as a JSON list of CIDRs (e.g. "
        '["10.20.0.0/16"]); any other non-public address (loopback, private, link-local) is '
        "refused (hub/subscriptions/destinations.py).",
    )
    stream_poll_seconds: float = Field(
        default=1.0, gt=0, description="How often a Server-Sent Events stream looks for changes."
    )
    api_host: str = "127.0.0.1"
    api_port: int = 8000
    token_url: str | None = Field(
        default=None,
        description="The token endpoint's public URL, which client assertions must name as "
        "their 'aud'; http://{api_host}:{api_port}/oauth2/token if unset.",
    )
    access_token_seconds: int = Field(
        default=600, gt=0, description="How long an access token from /oauth2/token lasts."
    )
    publish_timeout_seconds: float = 15.0
    log_level: str = Field(
        default="INFO",
        pattern="(?i)^(DEBUG|INFO|WARNING|ERROR|CRITICAL)$",
        description="Log level of the API and the MLLP listener, uvicorn's loggers included.",
    )
    stall_seconds: float = Field(
        default=60,
        gt=0,
        description="/health answers 503 when a projection has entries waiting but its stored "
        "position has not moved for this long (a hung or dead agent in a live worker).",
    )
    worker_stall_seconds: float = Field(
        default=120,
        gt=0,
        description="The worker exits (non-zero, for its supervisor to restart it) when handling "
        "one batch of entries takes longer than this; redelivery from the stored positions "
        "de-duplicates.",
    )
    worker_batch_max: int = Field(
        default=500,
        gt=0,
        description="The most entries of one topic the worker takes at once: the batch is "
        "decoded, applied (one transaction per projection; on the case and family topics every "
        "partition's share in it) and forwarded together.",
    )
    worker_batch_within_ms: float | None = Field(
        default=None,
        gt=0,
        description="How long the worker waits for a batch to fill before it applies what it "
        "has: the latency an idle hub adds to each entry, so keep it small (the quiet side "
        "topics, disclosures, quarantine and dead letters, wait at least 250 ms). Unset: 20 ms "
        "on SQLite, 100 ms on PostgreSQL, where each batch's commit costs more (ADR 0053).",
    )

    @field_validator("subscription_allowed_networks")
    @classmethod
    def _networks(cls, networks: list[str]) -> list[str]:
        for network in networks:
            ipaddress.ip_network(network, strict=False)  # ValueError names the bad one
        return networks

    def batch_within_s(self) -> float:
        """The worker's take window in seconds: as set, or the store's default (ADR 0053)."""
        if self.worker_batch_within_ms is not None:
            return self.worker_batch_within_ms / 1000
        postgresql = self.resolved_database_url().startswith("postgresql")
        return (POSTGRESQL_BATCH_WITHIN_MS if postgresql else SQLITE_BATCH_WITHIN_MS) / 1000

    def resolved_database_url(self) -> str:
        """The store URL, defaulting to a SQLite file under ``state_dir``."""
        if self.database_url:
            return self.database_url.get_secret_value()
        return f"sqlite:///{self.state_dir / 'projections.sqlite3'}"

    def resolved_key_store_url(self) -> str:
        """The key store URL, defaulting to a SQLite file of its own under ``state_dir``."""
        if self.key_store_url:
            return self.key_store_url.get_secret_value()
        return f"sqlite:///{self.state_dir / 'keys.sqlite3'}"

    def key_wrapper(self) -> LocalKek:
        """The key-encryption key: the setting, else the state directory's file (made once)."""
        if self.key_encryption_key:
            return LocalKek(parse_kek(self.key_encryption_key.get_secret_value()))
        return LocalKek(kek_file(self.state_dir))

    def resolved_kafka_jars_dir(self) -> Path:
        """The local broker's jar cache, defaulting to ``state_dir/kafka-jars``."""
        return self.kafka_jars_dir or self.state_dir / "kafka-jars"

    def resolved_token_url(self) -> str:
        """The ``aud`` a client assertion must carry (set ``token_url`` behind a proxy)."""
        return self.token_url or f"http://{self.api_host}:{self.api_port}/oauth2/token"

    def bootstrap_servers(self) -> str:
        """The Kafka cluster to use; fails clearly when none is known yet."""
        if not self.kafka_bootstrap_servers:
            raise RuntimeError(
                "No Kafka cluster configured: set KAFKA_BOOTSTRAP_SERVERS, or start the local "
                "broker with `hub kafka start` (which prints the value to export)."
            )
        return self.kafka_bootstrap_servers
