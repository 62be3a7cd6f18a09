"""What the CRM does with the events it receives. Each handler runs in the consumer's unit of
work, which claims the message id first (a redelivery has no effect) and commits after it."""

from __future__ import annotations

import logging
from collections.abc import Mapping

from opentelemetry import trace

from alexandrite.common import contracts
from alexandrite.common.messaging.consumer import EventHandler
from alexandrite.common.messaging.event import Event
from alexandrite.common.telemetry.order_context import order_scope
from alexandrite.common.unit_of_work import UnitOfWork
from alexandrite.crm.domain import ReviewStatus, can_cancel, is_forward
from alexandrite.crm.handlers import change_status, joined
from alexandrite.crm.intake import ModelLookup, ReviewPolicy, SubmittedOrderReviewer
from alexandrite.crm.store import CrmUnitOfWork, StatusChange

__all__ = ["event_handlers", "on_order_cancelled", "on_production_event"]

_log = logging.getLogger(__name__)


async def on_production_event(uow: UnitOfWork | CrmUnitOfWork, event: Event) -> None:
    """``production.*``: mirror the job's progress as the order's status, never backwards."""
    work = joined(uow)
    news = contracts.parse(event, contracts.CONTRACTS[event.routing_key])
    order_id = news.order_id
    new = ReviewStatus(contracts.ORDER_STATUS_OF_EVENT[event.routing_key].value)
    with order_scope(order_id):
        review = await work.reviews.find(order_id, lock=True)
        if review is None:
            _log.warning(
                "%s for order %s, which the CRM never reviewed", event.routing_key, order_id
            )
            return
        if not is_forward(ReviewStatus(review.status), new):
            trace.get_current_span().add_event(
                "order.status_stale", {"order.status": review.status, "order.status.to": new.value}
            )
            return
        reason = getattr(news, "reason", None)  # a failed job says why
        await change_status(work, review, new, reason or None)


async def on_order_cancelled(uow: UnitOfWork | CrmUnitOfWork, event: Event) -> None:
    """``order.cancelled``: the customer gave up; terminal reviews stay as they are."""
    work = joined(uow)
    cancelled = contracts.parse(event, contracts.OrderCancelled)
    order_id = cancelled.order_id
    reason = cancelled.reason or "cancelled by the customer"
    with order_scope(order_id):
        review = await work.reviews.find(order_id, lock=True)
        if review is None:
            # Cancelled before submission, or overtaking it: remember it for a late submission.
            if not await work.reviews.was_cancelled(order_id):
                work.reviews.add(
                    StatusChange(
                        order_id=order_id, status=ReviewStatus.CANCELLED.value, reason=reason
                    )
                )
            return
        if can_cancel(ReviewStatus(review.status)):
            review.reason = reason
            await change_status(work, review, ReviewStatus.CANCELLED, reason)


def event_handlers(policy: ReviewPolicy, models: ModelLookup) -> Mapping[str, EventHandler]:
    handlers: dict[str, EventHandler] = {
        contracts.OrderSubmitted.routing_key: SubmittedOrderReviewer(policy, models),
        contracts.OrderCancelled.routing_key: on_order_cancelled,
    }
    for routing_key in contracts.PRODUCTION_EVENTS:
        handlers[routing_key] = on_production_event
    return handlers
