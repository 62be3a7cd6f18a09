"""Notifier settings (environment prefix ``NOTIFIER_``).

Channels: the JSON log and the stored list always; e-mail when ``NOTIFIER_SMTP_HOST`` is set;
a chat webhook (Slack-style ``{"text": …}`` JSON) when ``NOTIFIER_WEBHOOK_URL`` is set.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from alexandrite.common import platform
from alexandrite.common.settings import ServiceSettings, local_database_url

__all__ = ["Settings"]


class Settings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="NOTIFIER_", extra="ignore")

    service_name: str = "notifier"
    port: int = Field(default_factory=lambda: platform.NOTIFIER.port)
    database_url: str = local_database_url("alexandrite_notifier")

    # Enrichment: the Shop answers "which order is in this status, oldest first".
    shop_url: str = Field(default_factory=lambda: platform.SHOP.url)
    enrichment_timeout_s: float = 3.0
    enrichment_orders: int = 10
    # Links put on order alerts (the gateway proxies Zipkin once it exists).
    zipkin_url: str = Field(default_factory=lambda: platform.ZIPKIN.url + "/zipkin/")
    gateway_url: str = Field(default_factory=lambda: platform.GATEWAY.url)

    # E-mail channel (off while smtp_host is empty).
    smtp_host: str = ""
    smtp_port: int = 25
    smtp_starttls: bool = False
    smtp_username: str = ""
    # A file holding the password, so it never sits in the environment or a process listing.
    smtp_password_file: Path | None = None
    smtp_from: str = "alexandrite-alerts@localhost"
    smtp_to: list[str] = []
    smtp_timeout_s: float = 10.0

    # Chat webhook channel (off while empty).
    webhook_url: str = ""
    webhook_timeout_s: float = 10.0

    # Delivery: the worker's poll interval, and retries with exponential backoff.
    delivery_poll_interval_s: float = 1.0
    delivery_max_attempts: int = 8
    delivery_backoff_s: float = 2.0
    delivery_backoff_max_s: float = 300.0
    # How long a claimed delivery stays invisible to other workers while being sent.
    delivery_lease_s: float = 60.0

    def channels(self) -> list[str]:
        """The delivery channels this configuration enables, the log always first."""
        channels = ["log"]
        if self.smtp_host and self.smtp_to:
            channels.append("email")
        if self.webhook_url:
            channels.append("webhook")
        return channels
