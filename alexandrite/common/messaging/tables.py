"""The outbox and inbox tables, defined once and added to each service's own metadata."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import (
    Column,
    DateTime,
    Index,
    MetaData,
    String,
    Table,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB, UUID

__all__ = ["MessagingTables", "messaging_tables"]


@dataclass(frozen=True)
class MessagingTables:
    outbox: Table
    inbox: Table


def messaging_tables(metadata: MetaData) -> MessagingTables:
    outbox = Table(
        "outbox",
        metadata,
        Column("id", UUID(as_uuid=True), primary_key=True),
        Column("routing_key", String(100), nullable=False),
        Column("source", String(50), nullable=False),
        Column("order_id", UUID(as_uuid=True), nullable=True),
        Column("data", JSONB, nullable=False),
        # The writer's trace context, so that the relay publishes in the request's trace.
        Column("trace_headers", JSONB, nullable=False, server_default=text("'{}'::jsonb")),
        Column("occurred_at", DateTime(timezone=True), nullable=False),
        Column("published_at", DateTime(timezone=True), nullable=True),
        Index(
            "ix_outbox_unpublished",
            "occurred_at",
            postgresql_where=text("published_at IS NULL"),
        ),
    )
    inbox = Table(
        "inbox",
        metadata,
        # One row per message handled: a redelivery finds its row and has no second effect.
        Column("message_id", UUID(as_uuid=True), primary_key=True),
        Column("routing_key", String(100), nullable=False),
        Column("processed_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    )
    return MessagingTables(outbox=outbox, inbox=inbox)
