"""Alertmanager's webhook payload (version 4) and the notifier's own answers."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, StrictInt

__all__ = ["AlertPayload", "NotificationView", "WebhookAccepted", "WebhookPayload"]

# Alertmanager's "no end yet" is the zero time.
_ZERO_TIME_YEAR = 1


class AlertPayload(BaseModel):
    model_config = ConfigDict(populate_by_name=True, extra="ignore")

    status: str = Field(pattern="^(firing|resolved)$")
    labels: dict[str, str]
    annotations: dict[str, str] = {}
    starts_at: datetime = Field(alias="startsAt")
    ends_at: datetime | None = Field(default=None, alias="endsAt")
    generator_url: str | None = Field(default=None, alias="generatorURL")
    fingerprint: str = Field(min_length=1, max_length=64)

    def real_end(self) -> datetime | None:
        if self.ends_at is None or self.ends_at.year <= _ZERO_TIME_YEAR:
            return None
        return self.ends_at


class WebhookPayload(BaseModel):
    """https://prometheus.io/docs/alerting/latest/configuration/#webhook_config"""

    model_config = ConfigDict(populate_by_name=True, extra="ignore")

    version: str
    group_key: str = Field(default="", alias="groupKey")
    truncated_alerts: StrictInt = Field(default=0, alias="truncatedAlerts")
    status: str
    receiver: str = ""
    group_labels: dict[str, str] = Field(default_factory=dict, alias="groupLabels")
    common_labels: dict[str, str] = Field(default_factory=dict, alias="commonLabels")
    external_url: str = Field(default="", alias="externalURL")
    alerts: list[AlertPayload]


class WebhookAccepted(BaseModel):
    received: int
    new: int


class NotificationView(BaseModel):
    id: int
    fingerprint: str
    status: str
    alertname: str
    service: str | None
    severity: str | None
    labels: dict[str, Any]
    annotations: dict[str, Any]
    starts_at: datetime
    ends_at: datetime | None
    received_at: datetime
    generator_url: str | None
    # order_id, order_ids, links … (None until the worker enriched it)
    enrichment: dict[str, Any] | None
    deliveries: dict[str, str]
