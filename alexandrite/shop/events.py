"""What the Shop publishes (its contract with CRM and MES) and the events it listens to."""

from __future__ import annotations

from alexandrite.common.messaging.topology import QueueSpec

__all__ = ["ORDER_CANCELLED", "ORDER_SUBMITTED", "queue_spec"]

ORDER_SUBMITTED = "order.submitted"
ORDER_CANCELLED = "order.cancelled"

# Everything the CRM and the MES say about an order changes what the customer sees.
LISTENS_TO = (
    "order.in_review",
    "order.approved",
    "order.rejected",
    "production.queued",
    "production.started",
    "production.completed",
    "production.failed",
)


def queue_spec(retry_delays_ms: list[int]) -> QueueSpec:
    return QueueSpec("shop.events", LISTENS_TO, tuple(retry_delays_ms))
