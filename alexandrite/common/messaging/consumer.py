"""The idempotent consumer: handle, commit, then ack; retry with backoff; then dead-letter.

Each delivery is processed in a CONSUMER span that is a child of the producer's span and also
links to it. Child, because Zipkin (our trace viewer) shows no links: as a child the handling
appears inside the order step's trace, which is what a support engineer searches. The link keeps
the messaging conventions' producer→consumer relation explicit for backends that draw links.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

import aio_pika
from aio_pika.abc import AbstractIncomingMessage, AbstractQueue, AbstractRobustChannel
from opentelemetry import context as otel_context
from opentelemetry import propagate, trace
from opentelemetry.trace import Link, SpanKind, StatusCode

from alexandrite.common.messaging.broker import Broker
from alexandrite.common.messaging.consumer_metrics import ConsumerMetrics, Outcome
from alexandrite.common.messaging.event import Event, MalformedEvent
from alexandrite.common.messaging.keyed_locks import KeyedLocks
from alexandrite.common.messaging.publisher import messaging_attributes
from alexandrite.common.messaging.topology import EVENTS_EXCHANGE, QueueSpec, declare_queue
from alexandrite.common.unit_of_work import UnitOfWork, UnitOfWorkFactory

__all__ = ["ATTEMPT_HEADER", "EventConsumer", "EventHandler"]

_log = logging.getLogger(__name__)
_tracer = trace.get_tracer("alexandrite.messaging")

ATTEMPT_HEADER = "x-alexandrite-attempt"
EventHandler = Callable[[UnitOfWork, Event], Awaitable[None]]


def _string_headers(headers: Mapping[str, Any]) -> dict[str, str]:
    return {
        key: value.decode() if isinstance(value, bytes) else str(value)
        for key, value in headers.items()
        if isinstance(value, str | bytes)
    }


class EventConsumer:
    def __init__(
        self,
        broker: Broker,
        spec: QueueSpec,
        handlers: Mapping[str, EventHandler],
        units_of_work: UnitOfWorkFactory,
        max_attempts: int = 4,
        prefetch: int = 32,
        metrics: ConsumerMetrics | None = None,
    ) -> None:
        self._broker = broker
        self._spec = spec
        self._handlers = dict(handlers)
        self._units_of_work = units_of_work
        self._max_attempts = max_attempts
        self._prefetch = prefetch
        self._metrics = metrics
        self._channel: AbstractRobustChannel | None = None
        self._queue: AbstractQueue | None = None
        self._consumer_tag: str | None = None
        # Serialises consuming and cancelling: a pause never races the start of consumption.
        self._consuming = asyncio.Lock()
        self.paused = False
        self._order_locks = KeyedLocks()
        broker.on_connected(self._start_consuming)

    @property
    def queue_name(self) -> str:
        return self._spec.name

    async def _start_consuming(self, channel: AbstractRobustChannel) -> None:
        self._channel = channel
        await channel.set_qos(prefetch_count=self._prefetch)
        async with self._consuming:
            self._queue = await declare_queue(channel, self._spec)
            if not self.paused:
                self._consumer_tag = await self._queue.consume(self._on_message)

    async def pause(self) -> None:
        """Stop taking messages (cancel the consumer tag): the queue fills up meanwhile.

        Deliveries already on their way are still handled; RabbitMQ sends none after the
        cancel is confirmed.
        """
        async with self._consuming:
            self.paused = True
            if self._queue is not None and self._consumer_tag is not None:
                await self._queue.cancel(self._consumer_tag)
                self._consumer_tag = None
                _log.warning("consumer of %s paused", self._spec.name)

    async def resume(self) -> None:
        async with self._consuming:
            if self._queue is not None and self._consumer_tag is None:
                self._consumer_tag = await self._queue.consume(self._on_message)
                _log.warning("consumer of %s resumed", self._spec.name)
            self.paused = False

    @property
    def consuming(self) -> bool:
        """Whether RabbitMQ delivers to this consumer now (connected and not paused)."""
        return self._consumer_tag is not None

    def _count(self, outcome: Outcome) -> None:
        if self._metrics is not None:
            self._metrics.processed(outcome)

    async def _on_message(self, message: AbstractIncomingMessage) -> None:
        headers = _string_headers(message.headers or {})
        try:
            event: Event | MalformedEvent = Event.from_body(message.body, trace_headers=headers)
        except MalformedEvent as exc:
            event = exc
        order_id = event.order_id if isinstance(event, Event) else None
        # Deliveries run concurrently (one task each, started in delivery order); the events of
        # one order must take effect in the order they were published. Taking the order's lock
        # before the first await keeps delivery order per order, and other orders run in parallel.
        async with self._order_locks.hold(str(order_id) if order_id else None):
            await self._handle(message, headers, event)

    async def _handle(
        self,
        message: AbstractIncomingMessage,
        headers: dict[str, str],
        event: Event | MalformedEvent,
    ) -> None:
        attempt = int(headers.get(ATTEMPT_HEADER, "1"))
        producer_context = propagate.extract(headers)
        producer_span = trace.get_current_span(producer_context).get_span_context()
        token = otel_context.attach(producer_context)
        try:
            with _tracer.start_as_current_span(
                f"process {message.routing_key or message.type}",
                kind=SpanKind.CONSUMER,
                links=[Link(producer_span)] if producer_span.is_valid else [],
                attributes={
                    "messaging.system": "rabbitmq",
                    "messaging.operation.type": "process",
                    "messaging.destination.name": (f"{EVENTS_EXCHANGE}:{message.routing_key}"),
                    "messaging.rabbitmq.destination.routing_key": message.routing_key or "",
                    "messaging.consumer.group.name": self._spec.name,
                    "messaging.message.id": message.message_id or "",
                    "messaging.message.delivery_attempt": attempt,
                    "messaging.rabbitmq.redelivered": bool(message.redelivered),
                },
            ) as span:
                await self._process(message, event, headers, attempt, span)
        finally:
            otel_context.detach(token)

    async def _process(
        self,
        message: AbstractIncomingMessage,
        event: Event | MalformedEvent,
        headers: dict[str, str],
        attempt: int,
        span: trace.Span,
    ) -> None:
        if isinstance(event, MalformedEvent):
            # It can never succeed: no retries, straight to the dead-letter queue.
            self._count("malformed")
            await self._dead_letter(message, span, event, attempt)
            return
        span.set_attributes(messaging_attributes(event, "process"))
        handler = self._handlers.get(event.routing_key)
        if handler is None:
            _log.info("no handler for %s on %s; acked", event.routing_key, self._spec.name)
            self._count("ignored")
            await message.ack()
            return
        try:
            async with self._units_of_work() as uow:
                if not await uow.claim_message(event.id, event.routing_key):
                    span.add_event("message.duplicate", {"messaging.message.id": str(event.id)})
                    _log.info("duplicate message %s ignored", event.id)
                    outcome: Outcome = "duplicate"
                else:
                    await handler(uow, event)
                    await uow.commit()
                    outcome = "success"
        except Exception as exc:
            self._count("error")
            span.record_exception(exc)
            span.set_status(StatusCode.ERROR, str(exc))
            if attempt >= self._max_attempts:
                await self._dead_letter(message, span, exc, attempt)
            else:
                await self._retry_later(message, headers, attempt, span)
            return
        self._count(outcome)
        await message.ack()

    async def _retry_later(
        self,
        message: AbstractIncomingMessage,
        headers: dict[str, str],
        attempt: int,
        span: trace.Span,
    ) -> None:
        retry_queue = self._spec.retry_queue(attempt)
        channel = await self._broker.publishing_channel()
        retried = aio_pika.Message(
            body=message.body,
            message_id=message.message_id,
            type=message.type,
            app_id=message.app_id,
            content_type=message.content_type,
            delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
            timestamp=message.timestamp,
            headers={**(message.headers or {}), ATTEMPT_HEADER: str(attempt + 1)},
        )
        # The retry queue's TTL is the backoff; on expiry it dead-letters back to our queue.
        try:
            await channel.default_exchange.publish(retried, routing_key=retry_queue)
        except Exception:
            await self._broker.discard_publishing_channel()  # a new channel for the next one
            raise
        span.add_event("message.retry_scheduled", {"retry.queue": retry_queue, "attempt": attempt})
        _log.warning(
            "message %s failed (attempt %d); retry via %s", message.message_id, attempt, retry_queue
        )
        if self._metrics is not None:
            self._metrics.retried()
        await message.ack()

    async def _dead_letter(
        self, message: AbstractIncomingMessage, span: trace.Span, exc: Exception, attempt: int
    ) -> None:
        span.add_event(
            "message.dead_lettered",
            {
                "messaging.destination.name": self._spec.dead_letter_queue,
                "exception.message": str(exc),
                "attempts": attempt,
            },
        )
        span.set_status(StatusCode.ERROR, f"dead-lettered: {exc}")
        _log.error(
            "message %s dead-lettered to %s after %d attempt(s): %s",
            message.message_id,
            self._spec.dead_letter_queue,
            attempt,
            exc,
        )
        if self._metrics is not None:
            self._metrics.dead_lettered()
        await message.reject(requeue=False)
