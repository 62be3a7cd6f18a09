"""Gateway settings (environment prefix ``GATEWAY_``).

The gateway connects to its database as ``alexandrite_gateway_app``, a role that may only read
and append the audit log (see ``alexandrite.ops.gateway_role``); migrations run as the owner
``alexandrite_gateway_owner``, whose password this process never reads.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from alexandrite.common import platform
from alexandrite.common.paths import Paths
from alexandrite.common.settings import ServiceSettings, read_secret

__all__ = ["APP_ROLE", "APP_ROLE_SECRET", "DATABASE", "Settings", "app_database_url"]

DATABASE = "alexandrite_gateway"
APP_ROLE = "alexandrite_gateway_app"
APP_ROLE_SECRET = "gateway-db-password"


def app_database_url(database: str = DATABASE) -> str:
    """The application role's URL, with the password generated at setup."""
    password = read_secret(APP_ROLE_SECRET, "")
    address = f"{platform.HOST}:{platform.POSTGRESQL.port}"
    return f"postgresql+asyncpg://{APP_ROLE}:{password}@{address}/{database}"


def _state_file(*parts: str) -> Path:
    return Paths.from_env().state.joinpath(*parts)


def _tls_file(name: str) -> Path:
    return Paths.from_env().tls / name


class Settings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="GATEWAY_", extra="ignore")

    service_name: str = "support-gateway"
    port: int = Field(default_factory=lambda: platform.GATEWAY.port)
    database_url: str = Field(default_factory=app_database_url)
    db_pool_size: int = 5
    tls_cert_file: Path = Field(default_factory=lambda: _tls_file("server.pem"))
    tls_key_file: Path = Field(default_factory=lambda: _tls_file("server-key.pem"))
    tls_ca_file: Path = Field(default_factory=lambda: _tls_file("ca.pem"))
    # Zipkin's root (no /zipkin): https verified against tls_ca_file when it starts with https.
    zipkin_url: str = Field(default_factory=lambda: platform.ZIPKIN.url)
    shop_url: str = Field(default_factory=lambda: platform.SHOP.url)
    # Where an unfinished order waits: the MES jobs API and RabbitMQ's management API.
    mes_url: str = Field(default_factory=lambda: platform.MES.url)
    rabbitmq_management_url: str = Field(
        default_factory=lambda: f"http://{platform.HOST}:{platform.RABBITMQ.port_of('management')}"
    )
    # The notifier's stored notifications, listed on the console's notifications page.
    notifier_url: str = Field(default_factory=lambda: platform.NOTIFIER.url)
    rabbitmq_vhost: str = "/"
    rabbitmq_user: str = "guest"
    rabbitmq_password: str = "guest"
    # The OrderStuck limits of deploy/prometheus/limits.yml, for the profile the alerts run with.
    alert_profile: Literal["production", "test"] = "production"
    # Traces of one journey fetched from Zipkin at once, and the most fetched per journey.
    journey_concurrency: int = 8
    journey_max_traces: int = 200
    session_ttl_s: int = 8 * 3600
    token_ttl_days: int = 90
    # Failed logins (docs/security.md): counted over the window; past the free ones, a
    # (user, address) pair waits an exponential backoff and an address is slowed, never locked.
    login_window_s: int = 15 * 60
    login_free_failures_per_pair: int = 3
    login_pair_backoff_max_s: float = 300.0
    login_free_failures_per_address: int = 20
    login_address_delay_max_s: float = 60.0
    # The audit chain's head, appended to a file outside the database every so many rows and
    # every so many seconds (``alexandrite audit verify`` checks the table against it).
    audit_anchor_file: Path = Field(
        default_factory=lambda: _state_file("audit", "gateway-audit-anchors.jsonl")
    )
    audit_anchor_every_rows: int = Field(default=50, ge=1)
    audit_anchor_interval_s: float = Field(default=5.0, gt=0)
