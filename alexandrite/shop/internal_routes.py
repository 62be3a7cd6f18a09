"""Reads for the support gateway: an order's steps with the trace ids that caused them.

Not part of the public contract (hidden from the OpenAPI document): the trace ids let the
gateway fetch an order's traces from Zipkin by id instead of a tag search over the whole store.
Each history row keeps the trace of the step that changed the status (for a change made by a
consumer, that is the publisher's trace), the outbox row of each event the Shop published keeps
its request's trace context, and the model keeps the trace of its upload.
"""

from __future__ import annotations

import re
import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Query
from sqlalchemy import String, cast, select

from alexandrite.common.errors import InvalidInput
from alexandrite.common.service import RuntimeDep
from alexandrite.shop.store import Order, get_order, tables

__all__ = ["internal_router"]

internal_router = APIRouter(include_in_schema=False)

_ID_PREFIX = re.compile(r"^[0-9a-f-]{4,36}$")
_TRACEPARENT = re.compile(r"^[0-9a-f]{2}-([0-9a-f]{32})-([0-9a-f]{16})-[0-9a-f]{2}$")


def _trace_of(headers: dict[str, Any] | None) -> tuple[str | None, str | None]:
    match = _TRACEPARENT.match(str((headers or {}).get("traceparent", "")))
    return (match.group(1), match.group(2)) if match else (None, None)


@internal_router.get("/internal/orders/{order_id}/traces")
async def order_traces(order_id: uuid.UUID, runtime: RuntimeDep) -> dict[str, Any]:
    async with runtime.database.sessions() as session:
        order = await get_order(session, order_id)
        outbox = tables.outbox
        rows = (
            await session.execute(
                select(
                    outbox.c.id,
                    outbox.c.routing_key,
                    outbox.c.trace_headers,
                    outbox.c.occurred_at,
                    outbox.c.published_at,
                )
                .where(outbox.c.order_id == order_id)
                .order_by(outbox.c.occurred_at)
                .limit(100)
            )
        ).all()
    model = dict(order.model or {})
    model_trace = model.pop("trace_id", None)
    events = []
    for row in rows:
        trace_id, span_id = _trace_of(row.trace_headers)
        events.append(
            {
                "message_id": str(row.id),
                "routing_key": row.routing_key,
                "occurred_at": row.occurred_at.isoformat(),
                "published_at": row.published_at.isoformat() if row.published_at else None,
                "trace_id": trace_id,
                "span_id": span_id,
            }
        )
    return {
        "order_id": str(order.id),
        "status": order.status,
        "reason": order.reason,
        "created_at": order.created_at.isoformat(),
        "model_id": str(order.model_id) if order.model_id else None,
        "model": model or None,
        "model_trace_id": model_trace,
        "history": [
            {
                "status": h.status,
                "at": h.at.isoformat(),
                "reason": h.reason,
                "trace_id": h.trace_id,
                "span_id": h.span_id,
            }
            for h in order.history
        ],
        "published": events,
    }


@internal_router.get("/internal/orders")
async def orders_by_prefix(
    runtime: RuntimeDep, id_prefix: Annotated[str, Query(min_length=4, max_length=36)]
) -> list[str]:
    """Up to two order ids that start with ``id_prefix`` (hex digits and dashes): the gateway's
    search box takes a unique prefix."""
    if not _ID_PREFIX.match(id_prefix.lower()):
        raise InvalidInput("an order id prefix is hex digits and dashes")
    async with runtime.database.sessions() as session:
        rows = await session.execute(
            select(Order.id).where(cast(Order.id, String).like(f"{id_prefix.lower()}%")).limit(2)
        )
        return [str(order_id) for order_id in rows.scalars()]
