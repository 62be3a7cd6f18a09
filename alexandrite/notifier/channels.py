"""Where a notification goes: the JSON log, e-mail (SMTP) and a chat webhook.

Each channel's ``send`` raises on failure; the DeliveryWorker retries with backoff. The stored
list (``GET /api/v1/notifications``) is the notifications table itself.
"""

from __future__ import annotations

import asyncio
import logging
import smtplib
from email.message import EmailMessage
from typing import Any, Protocol

import httpx

from alexandrite.notifier.settings import Settings
from alexandrite.notifier.store import Notification

__all__ = [
    "Channel",
    "EmailChannel",
    "LogChannel",
    "WebhookChannel",
    "build_channels",
    "notification_document",
    "render_text",
]

_log = logging.getLogger("alexandrite.notifier.alerts")


class Channel(Protocol):
    async def send(self, notification: Notification) -> None: ...


def render_text(notification: Notification) -> str:
    """The human message: one title line, then summary, order, links and runbook."""
    severity = notification.severity or "none"
    title = (
        f"[{notification.status.upper()}] {notification.alertname} "
        f"({severity}) {notification.service or ''}".rstrip()
    )
    lines = [title, str(notification.annotations.get("summary", ""))]
    enrichment = notification.enrichment or {}
    if enrichment.get("order_id"):
        lines.append(f"order: {enrichment['order_id']}")
        if enrichment.get("verdict"):
            lines.append(f"verdict: {enrichment['verdict']}")
        # A failure alert names each order with its own sentence and journey (OrderFailed).
        linked = [
            order
            for order in enrichment.get("orders", [])
            if order.get("journey_url") and order.get("id") != enrichment["order_id"]
        ]
        others = [i for i in enrichment.get("order_ids", []) if i != enrichment["order_id"]]
        if linked:
            lines.extend(
                f"also failed: {order['id']}: {order.get('verdict')} ({order['journey_url']})"
                for order in linked
            )
        elif others:
            lines.append(f"also in {enrichment.get('order_status')}: {', '.join(others)}")
    for name, url in (enrichment.get("links") or {}).items():
        lines.append(f"{name}: {url}")
    if notification.annotations.get("runbook_url"):
        lines.append(f"runbook: {notification.annotations['runbook_url']}")
    return "\n".join(line for line in lines if line)


def notification_document(notification: Notification) -> dict[str, Any]:
    return {
        "id": notification.id,
        "status": notification.status,
        "alertname": notification.alertname,
        "service": notification.service,
        "severity": notification.severity,
        "labels": notification.labels,
        "annotations": notification.annotations,
        "starts_at": notification.starts_at.isoformat(),
        "ends_at": notification.ends_at.isoformat() if notification.ends_at else None,
        "enrichment": notification.enrichment,
    }


class LogChannel:
    async def send(self, notification: Notification) -> None:
        _log.warning(
            "%s",
            render_text(notification).splitlines()[0],
            extra={"alert": notification_document(notification)},
        )


class EmailChannel:
    def __init__(self, settings: Settings) -> None:
        self._settings = settings

    def _send_sync(self, message: EmailMessage) -> None:
        s = self._settings
        with smtplib.SMTP(s.smtp_host, s.smtp_port, timeout=s.smtp_timeout_s) as smtp:
            if s.smtp_starttls:
                smtp.starttls()
            if s.smtp_username:
                password = s.smtp_password_file.read_text().strip() if s.smtp_password_file else ""
                smtp.login(s.smtp_username, password)
            smtp.send_message(message)

    async def send(self, notification: Notification) -> None:
        text = render_text(notification)
        message = EmailMessage()
        message["Subject"] = text.splitlines()[0]
        message["From"] = self._settings.smtp_from
        message["To"] = ", ".join(self._settings.smtp_to)
        message.set_content(text)
        # smtplib blocks: keep it off the event loop.
        await asyncio.to_thread(self._send_sync, message)


class WebhookChannel:
    """Slack-style incoming webhook: ``{"text": …}``, plus the whole notification."""

    def __init__(self, settings: Settings) -> None:
        self._url = settings.webhook_url
        self._http = httpx.AsyncClient(timeout=settings.webhook_timeout_s)

    async def send(self, notification: Notification) -> None:
        response = await self._http.post(
            self._url,
            json={"text": render_text(notification), "alert": notification_document(notification)},
        )
        response.raise_for_status()

    async def close(self) -> None:
        await self._http.aclose()


def build_channels(settings: Settings) -> dict[str, Channel]:
    channels: dict[str, Channel] = {}
    for name in settings.channels():
        if name == "log":
            channels[name] = LogChannel()
        elif name == "email":
            channels[name] = EmailChannel(settings)
        elif name == "webhook":
            channels[name] = WebhookChannel(settings)
    return channels
