"""What the CRM publishes (its contract with the Shop and the MES) and the events it listens to."""

from __future__ import annotations

from alexandrite.common.messaging.topology import QueueSpec

__all__ = [
    "LISTENS_TO",
    "ORDER_APPROVED",
    "ORDER_CANCELLED",
    "ORDER_IN_REVIEW",
    "ORDER_REJECTED",
    "ORDER_SUBMITTED",
    "PRODUCTION_STATUS",
    "QUEUE",
    "queue_spec",
]

# Published by the CRM.
ORDER_IN_REVIEW = "order.in_review"
ORDER_APPROVED = "order.approved"
ORDER_REJECTED = "order.rejected"

# Consumed by the CRM.
ORDER_SUBMITTED = "order.submitted"
ORDER_CANCELLED = "order.cancelled"
# What the MES says about a job, as the order status the CRM mirrors.
PRODUCTION_STATUS = {
    "production.queued": "queued",
    "production.started": "in_production",
    "production.completed": "completed",
    "production.failed": "failed",
}

LISTENS_TO = (ORDER_SUBMITTED, ORDER_CANCELLED, *PRODUCTION_STATUS)


QUEUE = "crm.events"


def queue_spec(retry_delays_ms: list[int], name: str = QUEUE) -> QueueSpec:
    return QueueSpec(name, LISTENS_TO, tuple(retry_delays_ms))
