"""The background worker that enriches stored notifications and delivers them to channels.

Like the outbox relay: the webhook only writes rows; this worker, woken by each webhook and
polling otherwise, first enriches new notifications (the order id of an OrderStuck), then
claims due deliveries (``FOR UPDATE SKIP LOCKED`` plus a lease, so two notifier processes never
send one twice), sends them and records the outcome. A failed send is retried with exponential
backoff until ``delivery_max_attempts``; then the delivery is marked failed.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from alexandrite.common.periodic import Periodic
from alexandrite.notifier.channels import Channel
from alexandrite.notifier.enrichment import Enricher
from alexandrite.notifier.settings import Settings
from alexandrite.notifier.store import Delivery, DeliveryStatus, Notification

__all__ = ["DeliveryWorker", "backoff_seconds"]

_log = logging.getLogger(__name__)
_BATCH = 50


def backoff_seconds(attempts: int, base: float, ceiling: float) -> float:
    """Wait after the ``attempts``-th failure: base, 2 base, 4 base … up to ceiling."""
    return float(min(base * 2 ** max(attempts - 1, 0), ceiling))


class DeliveryWorker:
    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        channels: dict[str, Channel],
        enricher: Enricher,
        settings: Settings,
    ) -> None:
        self._sessions = sessions
        self._channels = channels
        self._enricher = enricher
        self._settings = settings
        self._loop = Periodic(
            "notifier-delivery-worker",
            self.run_once,
            settings.delivery_poll_interval_s,
            _round_failed,
        )

    def start(self) -> None:
        self._loop.start()

    def wake(self) -> None:
        self._loop.wake()

    async def stop(self) -> None:
        await self._loop.stop()

    async def run_once(self) -> int:
        """Enrich what is new, then send what is due; return the deliveries attempted."""
        await self._enrich_new()
        return await self._deliver_due()

    async def _enrich_new(self) -> None:
        async with self._sessions() as session:
            rows = (
                (
                    await session.execute(
                        select(Notification)
                        .where(Notification.enriched_at.is_(None))
                        .order_by(Notification.id)
                        .limit(_BATCH)
                    )
                )
                .scalars()
                .all()
            )
            firing: dict[str, Any] = {}
            for notification in rows:
                if notification.status == "resolved":
                    firing[notification.fingerprint] = await session.scalar(
                        select(Notification.enrichment)
                        .where(
                            Notification.fingerprint == notification.fingerprint,
                            Notification.status == "firing",
                        )
                        .order_by(Notification.id.desc())
                        .limit(1)
                    )
        for notification in rows:
            try:
                enrichment = await asyncio.wait_for(
                    self._enricher.enrich(
                        notification.alertname,
                        notification.status,
                        notification.labels,
                        notification.annotations,
                        firing.get(notification.fingerprint),
                    ),
                    timeout=self._settings.enrichment_timeout_s + 1,
                )
            except Exception as exc:
                # Deliver without the extras rather than not at all.
                _log.warning("could not enrich notification %d: %s", notification.id, exc)
                enrichment = {"error": f"{type(exc).__name__}: {exc}"[:500]}
            async with self._sessions() as session, session.begin():
                await session.execute(
                    update(Notification)
                    .where(Notification.id == notification.id)
                    .values(enrichment=enrichment, enriched_at=datetime.now(UTC))
                )

    async def _claim(self) -> list[tuple[Delivery, Notification]]:
        now = datetime.now(UTC)
        async with self._sessions() as session, session.begin():
            rows = (
                await session.execute(
                    select(Delivery, Notification)
                    .join(Notification, Notification.id == Delivery.notification_id)
                    .where(
                        Delivery.status == DeliveryStatus.PENDING,
                        Delivery.next_attempt_at <= now,
                        Notification.enriched_at.is_not(None),
                    )
                    .order_by(Delivery.id)
                    .limit(_BATCH)
                    .with_for_update(of=Delivery, skip_locked=True)
                )
            ).all()
            if rows:
                lease = now + timedelta(seconds=self._settings.delivery_lease_s)
                await session.execute(
                    update(Delivery)
                    .where(Delivery.id.in_([delivery.id for delivery, _ in rows]))
                    .values(next_attempt_at=lease)
                )
        return [(delivery, notification) for delivery, notification in rows]

    async def _deliver_due(self) -> int:
        claimed = await self._claim()
        for delivery, notification in claimed:
            await self._deliver(delivery, notification)
        return len(claimed)

    async def _deliver(self, delivery: Delivery, notification: Notification) -> None:
        channel = self._channels.get(delivery.channel)
        attempts = delivery.attempts + 1
        values: dict[str, Any] = {"attempts": attempts}
        try:
            if channel is None:
                raise RuntimeError(f"channel {delivery.channel!r} is not configured any more")
            await channel.send(notification)
        except Exception as exc:
            values["last_error"] = f"{type(exc).__name__}: {exc}"[:1000]
            if attempts >= self._settings.delivery_max_attempts:
                values["status"] = DeliveryStatus.FAILED
                _log.error(
                    "gave up delivering notification %d to %s after %d attempts: %s",
                    notification.id,
                    delivery.channel,
                    attempts,
                    exc,
                )
            else:
                delay = backoff_seconds(
                    attempts,
                    self._settings.delivery_backoff_s,
                    self._settings.delivery_backoff_max_s,
                )
                values["next_attempt_at"] = datetime.now(UTC) + timedelta(seconds=delay)
                _log.warning(
                    "delivering notification %d to %s failed (attempt %d), retry in %.0f s: %s",
                    notification.id,
                    delivery.channel,
                    attempts,
                    delay,
                    exc,
                )
        else:
            values["status"] = DeliveryStatus.DELIVERED
            values["delivered_at"] = datetime.now(UTC)
        async with self._sessions() as session, session.begin():
            await session.execute(
                update(Delivery).where(Delivery.id == delivery.id).values(**values)
            )


def _round_failed(exc: Exception) -> None:
    # The database may be away for a moment: log and try again at the next tick.
    _log.error("the delivery worker failed a round", exc_info=exc)
