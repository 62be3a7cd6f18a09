"""Gateway settings (environment prefix ``GATEWAY_``).

The gateway connects to its database as ``alexandrite_gateway_app``, a role that may only read
and append the audit log (see ``alexandrite.ops.gateway_role``); migrations run as the owner ``alexandrite``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from alexandrite.common.settings import ServiceSettings, local_database_url

__all__ = ["APP_ROLE", "APP_ROLE_SECRET", "DATABASE", "Settings", "app_database_url"]

DATABASE = "alexandrite_gateway"
APP_ROLE = "alexandrite_gateway_app"
APP_ROLE_SECRET = "gateway-db-password"


def app_database_url(database: str = DATABASE) -> str:
    """The application role's URL, with the password generated at setup."""
    from alexandrite.ops.paths import Paths
    from alexandrite.ops.secrets import ensure_secret

    password = ensure_secret(Paths.from_env(), APP_ROLE_SECRET)
    return f"postgresql+asyncpg://{APP_ROLE}:{password}@127.0.0.1:5432/{database}"


def _tls_file(name: str) -> Path:
    from alexandrite.ops.paths import Paths

    return Paths.from_env().tls / name


class Settings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="GATEWAY_", extra="ignore")

    service_name: str = "support-gateway"
    port: int = 8443
    database_url: str = Field(default_factory=app_database_url)
    # Migrations and tamper tests only: the owner of the tables.
    owner_database_url: str = Field(default_factory=lambda: local_database_url(DATABASE))
    db_pool_size: int = 5
    tls_cert_file: Path = Field(default_factory=lambda: _tls_file("server.pem"))
    tls_key_file: Path = Field(default_factory=lambda: _tls_file("server-key.pem"))
    tls_ca_file: Path = Field(default_factory=lambda: _tls_file("ca.pem"))
    # Zipkin's root (no /zipkin): https verified against tls_ca_file when it starts with https.
    zipkin_url: str = "http://127.0.0.1:9411"
    shop_url: str = "http://127.0.0.1:8001"
    # Where an unfinished order waits: the MES jobs API and RabbitMQ's management API.
    mes_url: str = "http://127.0.0.1:8003"
    rabbitmq_management_url: str = "http://127.0.0.1:15672"
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
    # Failed logins: at most this many per user / per client address within the window.
    login_window_s: int = 15 * 60
    max_failures_per_user: int = 5
    max_failures_per_address: int = 20
