"""The broker topology, declared idempotently at start by every service.

    alexandrite.events (topic)  ──binding──▶  <service>.events            (consumer queue)
                                               │ reject after the last attempt
    alexandrite.dlx (direct)    ◀──────────────┘  ──▶  <service>.events.dead
    default exchange ──▶ <service>.events.retry.<n> (TTL = backoff n) ──expires──▶ <service>.events

Queue types: ``classic`` on the single local broker (the default), ``quorum`` on a cluster
(``alexandrite up --broker cluster``, the chart): every queue above is then a quorum queue,
replicated on each node, and each dead-lettering hop (the last rejection to ``.dead``, a retry's
expiry back to the consumer queue) is ``at-least-once``: RabbitMQ keeps the message in the
source queue until the target confirms it, so a node lost mid-move loses nothing (the consumer
is idempotent, so a copy moved twice is applied once). At-least-once needs
``x-overflow: reject-publish`` (RabbitMQ 3.10+). A queue keeps the type it was declared with:
redeclaring it with another type fails (PRECONDITION_FAILED), so a broker changes type only
when its queues are drained and deleted.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import aio_pika
from aio_pika.abc import AbstractChannel, AbstractExchange, AbstractQueue

__all__ = [
    "DLX",
    "EVENTS_EXCHANGE",
    "QueueSpec",
    "QueueType",
    "declare_events_exchange",
    "declare_queue",
    "queue_arguments",
]

EVENTS_EXCHANGE = "alexandrite.events"
DLX = "alexandrite.dlx"
QueueType = Literal["classic", "quorum"]


@dataclass(frozen=True)
class QueueSpec:
    name: str
    routing_keys: tuple[str, ...]
    retry_delays_ms: tuple[int, ...] = (500, 2000, 5000)
    queue_type: QueueType = "classic"

    @property
    def dead_letter_queue(self) -> str:
        return f"{self.name}.dead"

    def retry_queue(self, attempt: int) -> str:
        """The queue that holds a message before its attempt number ``attempt + 1``."""
        level = min(attempt, len(self.retry_delays_ms)) - 1
        return f"{self.name}.retry.{level + 1}"


def queue_arguments(
    queue_type: QueueType, dead_letter_exchange: str | None = None, dead_letter_key: str = ""
) -> dict[str, Any]:
    """The x-arguments of one queue of the topology (``None``: no dead-lettering)."""
    arguments: dict[str, Any] = {}
    if queue_type == "quorum":
        arguments["x-queue-type"] = "quorum"
    if dead_letter_exchange is not None:
        arguments["x-dead-letter-exchange"] = dead_letter_exchange
        arguments["x-dead-letter-routing-key"] = dead_letter_key
        if queue_type == "quorum":
            arguments["x-dead-letter-strategy"] = "at-least-once"
            arguments["x-overflow"] = "reject-publish"
    return arguments


async def declare_events_exchange(channel: AbstractChannel) -> AbstractExchange:
    return await channel.declare_exchange(
        EVENTS_EXCHANGE, aio_pika.ExchangeType.TOPIC, durable=True
    )


async def declare_queue(channel: AbstractChannel, spec: QueueSpec) -> AbstractQueue:
    events = await declare_events_exchange(channel)
    dlx = await channel.declare_exchange(DLX, aio_pika.ExchangeType.DIRECT, durable=True)
    dead = await channel.declare_queue(
        spec.dead_letter_queue, durable=True, arguments=queue_arguments(spec.queue_type)
    )
    await dead.bind(dlx, routing_key=spec.name)
    queue = await channel.declare_queue(
        spec.name, durable=True, arguments=queue_arguments(spec.queue_type, DLX, spec.name)
    )
    for routing_key in spec.routing_keys:
        await queue.bind(events, routing_key=routing_key)
    for level, delay_ms in enumerate(spec.retry_delays_ms, start=1):
        await channel.declare_queue(
            f"{spec.name}.retry.{level}",
            durable=True,
            arguments={
                **queue_arguments(spec.queue_type, "", spec.name),
                "x-message-ttl": delay_ms,
            },
        )
    return queue
