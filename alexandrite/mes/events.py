"""The MES's consumer queue; what it publishes and listens to is in alexandrite.common.contracts."""

from __future__ import annotations

from alexandrite.common import contracts
from alexandrite.common.messaging.topology import QueueSpec

__all__ = [
    "ORDER_APPROVED",
    "ORDER_CANCELLED",
    "ORDER_REJECTED",
    "PRODUCTION_COMPLETED",
    "PRODUCTION_FAILED",
    "PRODUCTION_QUEUED",
    "PRODUCTION_STARTED",
    "queue_spec",
]


def queue_spec(retry_delays_ms: list[int], name: str = contracts.MES_QUEUE) -> QueueSpec:
    return contracts.queue_spec(contracts.MES_QUEUE, retry_delays_ms, name)


# The routing keys the MES's handlers publish, from the contract (not redefined).
ORDER_APPROVED = contracts.OrderApproved.routing_key
ORDER_REJECTED = contracts.OrderRejected.routing_key
ORDER_CANCELLED = contracts.OrderCancelled.routing_key
PRODUCTION_QUEUED = contracts.ProductionQueued.routing_key
PRODUCTION_STARTED = contracts.ProductionStarted.routing_key
PRODUCTION_COMPLETED = contracts.ProductionCompleted.routing_key
PRODUCTION_FAILED = contracts.ProductionFailed.routing_key
