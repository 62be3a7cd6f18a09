"""What the MES does with the events it receives (called by the consumer in an open unit of
work, which commits after the handler returns and claims the message id for idempotency).

Each event is read with its contract (alexandrite.common.contracts): one that does not match is
a ContractViolation, retried, then dead-lettered, because a person must look."""

from __future__ import annotations

from collections.abc import Callable

from alexandrite.common import contracts
from alexandrite.common.after_commit import after_commit
from alexandrite.common.messaging.consumer import EventHandler
from alexandrite.common.messaging.event import Event
from alexandrite.common.unit_of_work import UnitOfWork
from alexandrite.mes import handlers

__all__ = ["event_handlers", "on_order_approved", "on_order_cancelled", "on_order_rejected"]


async def on_order_approved(uow: UnitOfWork, event: Event) -> None:
    await handlers.queue_job(uow, contracts.parse(event, contracts.OrderApproved))


async def on_order_cancelled(uow: UnitOfWork, event: Event) -> None:
    """``order.cancelled``: the customer gave up; the order will not be (further) produced."""
    cancelled = contracts.parse(event, contracts.OrderCancelled)
    reason = cancelled.reason or event.routing_key
    await handlers.cancel_job_for_order(uow, cancelled.order_id, reason)


async def on_order_rejected(uow: UnitOfWork, event: Event) -> None:
    """``order.rejected``: the order will not be produced."""
    rejected = contracts.parse(event, contracts.OrderRejected)
    reason = rejected.reason or event.routing_key
    await handlers.cancel_job_for_order(uow, rejected.order_id, reason)


def event_handlers(job_queued: Callable[[], None] | None = None) -> dict[str, EventHandler]:
    """``job_queued``, when given, is called once a new job's transaction has committed (the
    simulated fleet's doorbell: a printer takes the job now instead of at its next poll)."""

    async def approved(uow: UnitOfWork, event: Event) -> None:
        await on_order_approved(uow, event)
        if job_queued is not None:
            # A duplicate or a cancelled order rings for nothing: one printer polls once more.
            after_commit(uow.session.sync_session, job_queued)

    return {
        contracts.OrderApproved.routing_key: approved,
        contracts.OrderCancelled.routing_key: on_order_cancelled,
        contracts.OrderRejected.routing_key: on_order_rejected,
    }
