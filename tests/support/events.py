"""A tap on the events exchange: a temporary queue that records what the services publish."""

from __future__ import annotations

import contextlib
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import aio_pika
from aio_pika.abc import AbstractIncomingMessage

from alexandrite.common.messaging.topology import EVENTS_EXCHANGE


@dataclass
class Tapped:
    routing_key: str
    body: dict[str, Any]
    headers: dict[str, Any]
    message_id: str | None


@dataclass
class EventTap:
    messages: list[Tapped] = field(default_factory=list)

    def of(self, routing_key: str, order_id: str | None = None) -> list[Tapped]:
        return [
            m
            for m in self.messages
            if m.routing_key == routing_key
            and (order_id is None or m.body.get("order_id") == order_id)
        ]


@contextlib.asynccontextmanager
async def tap_events(amqp_url: str, binding: str = "#") -> AsyncIterator[EventTap]:
    tap = EventTap()
    connection = await aio_pika.connect_robust(amqp_url)
    try:
        channel = await connection.channel()
        exchange = await channel.declare_exchange(
            EVENTS_EXCHANGE, aio_pika.ExchangeType.TOPIC, durable=True
        )
        queue = await channel.declare_queue(exclusive=True, auto_delete=True)
        await queue.bind(exchange, routing_key=binding)

        async def record(message: AbstractIncomingMessage) -> None:
            async with message.process():
                tap.messages.append(
                    Tapped(
                        routing_key=message.routing_key or "",
                        body=json.loads(message.body),
                        headers=dict(message.headers or {}),
                        message_id=message.message_id,
                    )
                )

        await queue.consume(record)
        yield tap
    finally:
        await connection.close()
