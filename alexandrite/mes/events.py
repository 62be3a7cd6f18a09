"""What the MES publishes (its contract with CRM and Shop) and the events it listens to."""

from __future__ import annotations

from alexandrite.common.messaging.topology import QueueSpec

__all__ = [
    "LISTENS_TO",
    "ORDER_APPROVED",
    "ORDER_CANCELLED",
    "ORDER_REJECTED",
    "PRODUCTION_COMPLETED",
    "PRODUCTION_FAILED",
    "PRODUCTION_QUEUED",
    "PRODUCTION_STARTED",
    "queue_spec",
]

ORDER_APPROVED = "order.approved"
ORDER_REJECTED = "order.rejected"
ORDER_CANCELLED = "order.cancelled"

# Data: {order_id, job_id} plus printer (started, completed, failed) and reason (failed).
PRODUCTION_QUEUED = "production.queued"
PRODUCTION_STARTED = "production.started"
PRODUCTION_COMPLETED = "production.completed"
PRODUCTION_FAILED = "production.failed"

LISTENS_TO = (ORDER_APPROVED, ORDER_REJECTED, ORDER_CANCELLED)


def queue_spec(retry_delays_ms: list[int], name: str = "mes.events") -> QueueSpec:
    return QueueSpec(name, LISTENS_TO, tuple(retry_delays_ms))
