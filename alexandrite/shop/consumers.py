"""How the Shop follows what the CRM and the MES say about an order."""

from __future__ import annotations

from collections.abc import Mapping

from alexandrite.common import contracts
from alexandrite.common.messaging.consumer import EventHandler
from alexandrite.common.messaging.event import Event
from alexandrite.common.telemetry.order_context import order_scope
from alexandrite.common.unit_of_work import UnitOfWork
from alexandrite.shop.domain import OrderStatus, is_forward
from alexandrite.shop.handlers import move_order
from alexandrite.shop.metrics import ShopMetrics
from alexandrite.shop.store import OrderRepository, SqlOrderRepository

__all__ = ["event_handlers"]


async def follow_status(
    orders: OrderRepository, event: Event, metrics: ShopMetrics | None = None
) -> None:
    """Move the order to what the news says, unless it is late or repeated news."""
    news = contracts.parse(event, contracts.CONTRACTS[event.routing_key])
    new = contracts.ORDER_STATUS_OF_EVENT[event.routing_key]
    with order_scope(news.order_id):
        order = await orders.get(news.order_id, lock=True)
        if isinstance(news, contracts.OrderApproved) and news.price is not None:
            # The quote counts even when production news overtook the approval.
            order.price = news.price
            order.currency = news.currency or order.currency
        if not is_forward(OrderStatus(order.status), new):
            # Late or repeated news (the order moved on, or was cancelled meanwhile).
            return
        reason = getattr(news, "reason", None)  # rejections and production failures say why
        move_order(
            order,
            new,
            at=event.occurred_at,
            reason=str(reason) if reason else None,
            metrics=metrics,
        )


def event_handlers(metrics: ShopMetrics | None = None) -> Mapping[str, EventHandler]:
    async def handle(uow: UnitOfWork, event: Event) -> None:
        # In the consumer's unit of work, which claims the message in the same transaction.
        await follow_status(SqlOrderRepository(uow.session), event, metrics)

    return dict.fromkeys(contracts.LISTENS_TO[contracts.SHOP_QUEUE], handle)
