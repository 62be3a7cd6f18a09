"""The MES's consumer queue; what it publishes and listens to is in alexandrite.common.contracts."""

from __future__ import annotations

from alexandrite.common import contracts
from alexandrite.common.messaging.topology import QueueSpec

__all__ = ["queue_spec"]


def queue_spec(retry_delays_ms: list[int], name: str = contracts.MES_QUEUE) -> QueueSpec:
    return contracts.queue_spec(contracts.MES_QUEUE, retry_delays_ms, name)
