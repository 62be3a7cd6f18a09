"""The settings every service shares; each service subclasses it with its own env prefix.

Values come from environment variables (``SHOP_PORT``, ``CRM_DATABASE_URL`` …) with defaults that
work on a developer's machine. Local defaults for secrets are refused outside ``local`` mode.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from alexandrite.common import platform
from alexandrite.common.paths import Paths

__all__ = [
    "DB_PASSWORD_SECRET",
    "LOCAL_DB_PASSWORD",
    "ServiceSettings",
    "TelemetrySettings",
    "database_owner",
    "default_faults_file",
    "local_database_password",
    "local_database_url",
    "read_secret",
    "role_password_secret",
]

LOCAL_DB_PASSWORD = "alexandrite-local"
DB_PASSWORD_SECRET = "postgres-password"


class TelemetrySettings(BaseSettings):
    """How a service exports its traces; shared by all services (prefix ``OTEL_ALEXANDRITE_``)."""

    model_config = SettingsConfigDict(env_prefix="ALEXANDRITE_TELEMETRY_", extra="ignore")

    enabled: bool = True
    # OTLP/gRPC endpoint of the Collector; TLS is verified against ca_file.
    endpoint: str = Field(
        default_factory=lambda: f"https://{platform.HOST}:{platform.COLLECTOR.port_of('otlp-grpc')}"
    )
    ca_file: Path | None = None
    token_file: Path | None = None
    insecure: bool = False
    environment: str = "local"
    # Head sampling share in the SDK; the Collector's tail sampling decides what is kept.
    sample_ratio: float = Field(default=1.0, ge=0.0, le=1.0)
    # Trust boundary (docs/tracing.md): the shared secret by which our services recognise each
    # other's calls; without it no caller's trace context or baggage is accepted. Baggage over
    # these bounds is ignored whole, even from our own services (ours carries one entry).
    internal_token_file: Path | None = None
    baggage_max_bytes: int = Field(default=1024, ge=0)
    baggage_max_entries: int = Field(default=8, ge=0)
    # Spans the Collector could not take, held for retry (export_buffer). From the span
    # budget: 30 spans an order x 1000 orders, even if one process made all of them; past the
    # bound the oldest are dropped and counted.
    retry_buffer_spans: int = Field(default=30000, ge=0)
    retry_max_backoff_s: float = Field(default=5.0, gt=0)
    max_queue_size: int = 8192
    max_export_batch_size: int = 512
    # How long a finished span may wait in the SDK before export: part of the time to
    # visibility (docs/performance.md); 500 -> 200 ms cost a few small exports a second.
    schedule_delay_ms: int = 200
    export_timeout_ms: int = 5000
    # Database statements: "fold" adds each to db.statement_count / db.total_duration_ms on the
    # span it runs in; "spans" makes every statement a span. Either way a statement slower than
    # db_slow_statement_ms, or failing, is a span of its own (docs/tracing.md, span budget).
    db_statements: Literal["fold", "spans"] = "fold"
    db_slow_statement_ms: float = Field(default=100.0, ge=0.0)
    # How spans leave: OTLP/gRPC to `endpoint` or OTLP/HTTP + protobuf to `http_endpoint`, both
    # over TLS with the bearer token; gzip trades exporter-thread CPU for bytes on the wire.
    protocol: Literal["grpc", "http/protobuf"] = "grpc"
    http_endpoint: str = Field(
        default_factory=lambda: (
            f"https://{platform.HOST}:{platform.COLLECTOR.port_of('otlp-http')}/v1/traces"
        )
    )
    compression: Literal["none", "gzip"] = "none"


def default_faults_file() -> Path:
    return Paths.from_env().run / "faults.json"


class ServiceSettings(BaseSettings):
    """Fields every service has. Subclasses set ``env_prefix`` and their own defaults."""

    model_config = SettingsConfigDict(extra="ignore")

    service_name: str = "alexandrite"
    mode: Literal["local", "production"] = "local"
    host: str = "127.0.0.1"
    port: int = 8000
    database_url: str = ""
    db_pool_size: int = 10
    amqp_url: str = Field(
        default_factory=lambda: f"amqp://guest:guest@{platform.HOST}:{platform.RABBITMQ.port}/"
    )
    log_level: str = "INFO"
    # Outbox relay: how often it looks for events when nothing woke it.
    outbox_poll_interval_s: float = 1.0
    outbox_batch_size: int = 100
    # Consumer: deliveries before a message goes to the dead-letter queue, and the backoff.
    consumer_max_attempts: int = 4
    consumer_retry_delays_ms: list[int] = [500, 2000, 5000]
    consumer_prefetch: int = 32
    # Queue type of the consumer queues: classic on the single broker, quorum on a cluster
    # (alexandrite/common/messaging/topology.py; `alexandrite up --broker cluster`, the chart).
    queue_type: Literal["classic", "quorum"] = "classic"
    # Where the run-time faults are switched (``alexandrite faults``); tests point it elsewhere.
    faults_file: Path = Field(default_factory=default_faults_file)

    @model_validator(mode="after")
    def _refuse_local_secrets_in_production(self) -> ServiceSettings:
        if self.mode == "production" and (
            LOCAL_DB_PASSWORD in self.database_url or "guest:guest" in self.amqp_url
        ):
            raise ValueError(
                "local default credentials are not allowed in production mode: "
                "set the DATABASE_URL and AMQP_URL of this service"
            )
        return self

    def database_name(self) -> str:
        return self.database_url.rsplit("/", 1)[-1]


def database_owner(database: str) -> str:
    """The one role that owns `database` (least privilege: one role per service).

    ``alexandrite_<service>`` and its scratch copies ``alexandrite_<service>_<suffix>`` belong
    to the role ``alexandrite_<service>``; the gateway's to ``alexandrite_gateway_owner``, a
    role no running process uses (the gateway itself connects as ``alexandrite_gateway_app``).
    """
    prefix, _, rest = database.partition("_")
    service = rest.split("_", 1)[0]
    if prefix != "alexandrite" or not service.isalpha():
        raise ValueError(f"not an Alexandrite database name: {database!r}")
    return "alexandrite_gateway_owner" if service == "gateway" else f"alexandrite_{service}"


def role_password_secret(role: str) -> str:
    """The secret file (under the secrets directory) holding `role`'s password."""
    return f"postgres-{role}-password"


def read_secret(name: str, default: str) -> str:
    """The secret generated at setup (``alexandrite up``) in the secrets directory, else
    `default`. Services only read secrets: creating them is the setup's job."""
    try:
        return (Paths.from_env().secrets / name).read_text().strip() or default
    except OSError:
        return default


def local_database_password(role: str) -> str:
    """`role`'s password generated at setup, else the local default."""
    return read_secret(role_password_secret(role), LOCAL_DB_PASSWORD)


def local_database_url(database: str) -> str:
    """The URL of `database` as its owner role, with the password from the secrets directory."""
    role = database_owner(database)
    address = f"{platform.HOST}:{platform.POSTGRESQL.port}"
    return f"postgresql+asyncpg://{role}:{local_database_password(role)}@{address}/{database}"
