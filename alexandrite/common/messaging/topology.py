"""The broker topology, declared idempotently at start by every service.

    alexandrite.events (topic)  ──binding──▶  <service>.events            (consumer queue)
                                               │ reject after the last attempt
    alexandrite.dlx (direct)    ◀──────────────┘  ──▶  <service>.events.dead
    default exchange ──▶ <service>.events.retry.<n> (TTL = backoff n) ──expires──▶ <service>.events
"""

from __future__ import annotations

from dataclasses import dataclass

import aio_pika
from aio_pika.abc import AbstractChannel, AbstractExchange, AbstractQueue

__all__ = ["DLX", "EVENTS_EXCHANGE", "QueueSpec", "declare_events_exchange", "declare_queue"]

EVENTS_EXCHANGE = "alexandrite.events"
DLX = "alexandrite.dlx"


@dataclass(frozen=True)
class QueueSpec:
    name: str
    routing_keys: tuple[str, ...]
    retry_delays_ms: tuple[int, ...] = (500, 2000, 5000)

    @property
    def dead_letter_queue(self) -> str:
        return f"{self.name}.dead"

    def retry_queue(self, attempt: int) -> str:
        """The queue that holds a message before its attempt number ``attempt + 1``."""
        level = min(attempt, len(self.retry_delays_ms)) - 1
        return f"{self.name}.retry.{level + 1}"


async def declare_events_exchange(channel: AbstractChannel) -> AbstractExchange:
    return await channel.declare_exchange(
        EVENTS_EXCHANGE, aio_pika.ExchangeType.TOPIC, durable=True
    )


async def declare_queue(channel: AbstractChannel, spec: QueueSpec) -> AbstractQueue:
    events = await declare_events_exchange(channel)
    dlx = await channel.declare_exchange(DLX, aio_pika.ExchangeType.DIRECT, durable=True)
    dead = await channel.declare_queue(spec.dead_letter_queue, durable=True)
    await dead.bind(dlx, routing_key=spec.name)
    queue = await channel.declare_queue(
        spec.name,
        durable=True,
        arguments={"x-dead-letter-exchange": DLX, "x-dead-letter-routing-key": spec.name},
    )
    for routing_key in spec.routing_keys:
        await queue.bind(events, routing_key=routing_key)
    for level, delay_ms in enumerate(spec.retry_delays_ms, start=1):
        await channel.declare_queue(
            f"{spec.name}.retry.{level}",
            durable=True,
            arguments={
                "x-message-ttl": delay_ms,
                "x-dead-letter-exchange": "",
                "x-dead-letter-routing-key": spec.name,
            },
        )
    return queue
