"""The notifier's use cases: take in a webhook, list what was received."""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert as pg_insert

from alexandrite.common.unit_of_work import UnitOfWorkFactory
from alexandrite.notifier.schemas import NotificationView, WebhookAccepted, WebhookPayload
from alexandrite.notifier.store import Delivery, Notification

__all__ = ["NotifierHandlers"]

_log = logging.getLogger(__name__)


class NotifierHandlers:
    def __init__(
        self,
        units_of_work: UnitOfWorkFactory,
        channels: Sequence[str],
        on_received: Callable[[], None] | None = None,
    ) -> None:
        self._units_of_work = units_of_work
        self._channels = list(channels)
        # Wakes the delivery worker, so a new alert does not wait for its next poll.
        self._on_received = on_received

    async def receive(self, payload: WebhookPayload) -> WebhookAccepted:
        """Store every alert of the webhook once, with one pending delivery per channel."""
        new = 0
        async with self._units_of_work() as uow:
            for alert in payload.alerts:
                row = await uow.session.execute(
                    pg_insert(Notification)
                    .values(
                        fingerprint=alert.fingerprint,
                        status=alert.status,
                        alertname=alert.labels.get("alertname", "unnamed"),
                        service=alert.labels.get("service"),
                        severity=alert.labels.get("severity"),
                        labels=alert.labels,
                        annotations=alert.annotations,
                        starts_at=alert.starts_at,
                        ends_at=alert.real_end(),
                        generator_url=alert.generator_url,
                    )
                    .on_conflict_do_nothing(constraint="uq_notification_identity")
                    .returning(Notification.id)
                )
                notification_id = row.scalar_one_or_none()
                if notification_id is None:
                    continue  # Alertmanager repeating what it already told us
                new += 1
                await uow.session.execute(
                    pg_insert(Delivery).values(
                        [
                            {"notification_id": notification_id, "channel": channel}
                            for channel in self._channels
                        ]
                    )
                )
            await uow.commit()
        if new:
            _log.info(
                "received %d new alert notification(s) of %d",
                new,
                len(payload.alerts),
                extra={"group_key": payload.group_key},
            )
            if self._on_received is not None:
                self._on_received()
        return WebhookAccepted(received=len(payload.alerts), new=new)

    async def list(self, status: str | None, limit: int) -> list[NotificationView]:
        """The latest notifications first, each with its channels' delivery status."""
        async with self._units_of_work() as uow:
            query = select(Notification).order_by(Notification.id.desc()).limit(limit)
            if status is not None:
                query = query.where(Notification.status == status)
            notifications = list((await uow.session.execute(query)).scalars())
            ids = [n.id for n in notifications]
            deliveries: dict[int, dict[str, str]] = {i: {} for i in ids}
            if ids:
                rows = await uow.session.execute(
                    select(Delivery.notification_id, Delivery.channel, Delivery.status).where(
                        Delivery.notification_id.in_(ids)
                    )
                )
                for notification_id, channel, delivery_status in rows:
                    deliveries[notification_id][channel] = delivery_status
        return [
            NotificationView(
                id=n.id,
                fingerprint=n.fingerprint,
                status=n.status,
                alertname=n.alertname,
                service=n.service,
                severity=n.severity,
                labels=n.labels,
                annotations=n.annotations,
                starts_at=n.starts_at,
                ends_at=n.ends_at,
                received_at=n.received_at,
                generator_url=n.generator_url,
                enrichment=n.enrichment,
                deliveries=deliveries[n.id],
            )
            for n in notifications
        ]
