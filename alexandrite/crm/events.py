"""The CRM's consumer queue; what it publishes and listens to is in alexandrite.common.contracts."""

from __future__ import annotations

from alexandrite.common import contracts
from alexandrite.common.messaging.topology import QueueSpec

__all__ = ["queue_spec"]


def queue_spec(retry_delays_ms: list[int], name: str = contracts.CRM_QUEUE) -> QueueSpec:
    return contracts.queue_spec(contracts.CRM_QUEUE, retry_delays_ms, name)
