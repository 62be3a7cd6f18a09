"""How the Shop follows what the CRM and the MES say about an order."""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal

from alexandrite.common.messaging.consumer import EventHandler
from alexandrite.common.messaging.event import Event
from alexandrite.common.telemetry.order_context import order_scope
from alexandrite.common.unit_of_work import UnitOfWork
from alexandrite.shop.domain import OrderStatus, is_forward
from alexandrite.shop.handlers import move_order
from alexandrite.shop.metrics import ShopMetrics
from alexandrite.shop.store import get_order

__all__ = ["event_handlers"]

_STATUS_OF_EVENT = {
    "order.in_review": OrderStatus.IN_REVIEW,
    "order.approved": OrderStatus.APPROVED,
    "order.rejected": OrderStatus.REJECTED,
    "production.queued": OrderStatus.QUEUED,
    "production.started": OrderStatus.IN_PRODUCTION,
    "production.completed": OrderStatus.COMPLETED,
    "production.failed": OrderStatus.FAILED,
}


async def follow_status(uow: UnitOfWork, event: Event, metrics: ShopMetrics | None = None) -> None:
    if event.order_id is None:
        raise ValueError(f"{event.routing_key} event {event.id} carries no order id")
    new = _STATUS_OF_EVENT[event.routing_key]
    with order_scope(event.order_id):
        order = await get_order(uow.session, event.order_id, lock=True)
        if event.data.get("price") is not None:
            # The quote counts even when production news overtook the approval.
            order.price = Decimal(str(event.data["price"]))
            order.currency = str(event.data.get("currency", order.currency))
        if not is_forward(OrderStatus(order.status), new):
            # Late or repeated news (the order moved on, or was cancelled meanwhile).
            return
        reason = event.data.get("reason")
        move_order(
            order,
            new,
            at=event.occurred_at,
            reason=str(reason) if reason else None,
            metrics=metrics,
        )


def event_handlers(metrics: ShopMetrics | None = None) -> Mapping[str, EventHandler]:
    async def handle(uow: UnitOfWork, event: Event) -> None:
        await follow_status(uow, event, metrics)

    return dict.fromkeys(_STATUS_OF_EVENT, handle)
