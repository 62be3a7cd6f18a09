"""What the MES does with the events it receives (called by the consumer in an open unit of
work, which commits after the handler returns and claims the message id for idempotency)."""

from __future__ import annotations

import uuid

from pydantic import ValidationError

from alexandrite.common.messaging.consumer import EventHandler
from alexandrite.common.messaging.event import Event
from alexandrite.common.unit_of_work import UnitOfWork
from alexandrite.mes import handlers
from alexandrite.mes.events import ORDER_APPROVED, ORDER_CANCELLED, ORDER_REJECTED
from alexandrite.mes.schemas import ApprovedOrder

__all__ = ["event_handlers", "on_order_approved", "on_order_ended"]


def _order_id(event: Event) -> uuid.UUID:
    raw = event.data.get("order_id") or event.order_id
    if raw is None:
        raise ValueError(f"{event.routing_key} {event.id} carries no order id")
    return uuid.UUID(str(raw))


async def on_order_approved(uow: UnitOfWork, event: Event) -> None:
    try:
        order = ApprovedOrder.model_validate({**event.data, "order_id": _order_id(event)})
    except ValidationError as exc:
        # Retried, then dead-lettered: the contract was broken and a person must look.
        raise ValueError(f"order.approved {event.id} does not match the contract: {exc}") from exc
    await handlers.queue_job(uow, order)


async def on_order_ended(uow: UnitOfWork, event: Event) -> None:
    """``order.cancelled`` and ``order.rejected``: the order will not be (further) produced."""
    reason = str(event.data.get("reason") or event.routing_key)
    await handlers.cancel_job_for_order(uow, _order_id(event), reason)


def event_handlers() -> dict[str, EventHandler]:
    return {
        ORDER_APPROVED: on_order_approved,
        ORDER_CANCELLED: on_order_ended,
        ORDER_REJECTED: on_order_ended,
    }
