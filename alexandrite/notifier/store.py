"""The notifier's tables: one row per alert notification, one row per (notification, channel).

A notification is identified by Alertmanager's fingerprint, its status and its start: the same
alert sent again (Alertmanager repeats a group on every change) finds its row and adds nothing.
Deliveries are the outbox of the channels: written in the same transaction as the notification,
sent later by the DeliveryWorker with retries, so the webhook answer never waits for a channel.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    DateTime,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from alexandrite.common.messaging.tables import messaging_tables

__all__ = ["Base", "Delivery", "DeliveryStatus", "Notification", "tables"]


class Base(DeclarativeBase):
    """This service's own metadata: its own database."""


class Notification(Base):
    __tablename__ = "notifications"
    __table_args__ = (
        UniqueConstraint("fingerprint", "status", "starts_at", name="uq_notification_identity"),
        Index("ix_notifications_received_at", "received_at"),
        Index(
            "ix_notifications_unenriched",
            "id",
            postgresql_where=text("enriched_at IS NULL"),
        ),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    fingerprint: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(10))
    alertname: Mapped[str] = mapped_column(String(200))
    service: Mapped[str | None] = mapped_column(String(100))
    severity: Mapped[str | None] = mapped_column(String(20))
    labels: Mapped[dict[str, Any]] = mapped_column(JSONB)
    annotations: Mapped[dict[str, Any]] = mapped_column(JSONB)
    starts_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    ends_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    generator_url: Mapped[str | None] = mapped_column(Text)
    received_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now()
    )
    # What the notifier added (order id, links); None until the worker looked.
    enrichment: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    enriched_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class DeliveryStatus:
    PENDING = "pending"
    DELIVERED = "delivered"
    FAILED = "failed"


class Delivery(Base):
    __tablename__ = "deliveries"
    __table_args__ = (
        UniqueConstraint("notification_id", "channel", name="uq_delivery_channel"),
        Index(
            "ix_deliveries_due",
            "next_attempt_at",
            postgresql_where=text("status = 'pending'"),
        ),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    notification_id: Mapped[int] = mapped_column(
        Integer, ForeignKey("notifications.id", ondelete="CASCADE")
    )
    channel: Mapped[str] = mapped_column(String(20))
    status: Mapped[str] = mapped_column(
        String(10), default=DeliveryStatus.PENDING, server_default=DeliveryStatus.PENDING
    )
    attempts: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    next_attempt_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now()
    )
    last_error: Mapped[str | None] = mapped_column(Text)
    delivered_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


# The shared outbox/inbox tables: the notifier publishes no events today, but every service
# has the same shape (create_service_app's relay polls them).
tables = messaging_tables(Base.metadata)
