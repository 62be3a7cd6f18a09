"""Publishing one event: persistent, confirmed by the broker, inside a PRODUCER span.

The span's parent is the trace context stored with the event (the request that wrote it to the
outbox), not the relay's own, so a support engineer sees the publish inside the request's trace.
"""

from __future__ import annotations

import aio_pika
from opentelemetry import context as otel_context
from opentelemetry import propagate, trace
from opentelemetry.trace import SpanKind

from alexandrite.common.messaging.broker import Broker, BrokerUnavailable
from alexandrite.common.messaging.event import Event
from alexandrite.common.messaging.topology import EVENTS_EXCHANGE

__all__ = ["publish_event"]

_tracer = trace.get_tracer("alexandrite.messaging")


def messaging_attributes(
    event: Event, operation: str, exchange: str = EVENTS_EXCHANGE
) -> dict[str, str | int]:
    attributes: dict[str, str | int] = {
        "messaging.system": "rabbitmq",
        "messaging.operation.type": operation,
        "messaging.destination.name": f"{exchange}:{event.routing_key}",
        "messaging.rabbitmq.destination.routing_key": event.routing_key,
        "messaging.message.id": str(event.id),
        "messaging.message.body.size": len(event.body()),
        "event.source": event.source,
    }
    if event.order_id is not None:
        attributes["order.id"] = str(event.order_id)
    return attributes


async def publish_event(broker: Broker, event: Event) -> None:
    parent = propagate.extract(event.trace_headers)
    token = otel_context.attach(parent)
    try:
        with _tracer.start_as_current_span(
            f"publish {event.routing_key}",
            kind=SpanKind.PRODUCER,
            attributes=messaging_attributes(event, "send"),
        ) as span:
            headers: dict[str, str] = {}
            propagate.inject(headers)
            message = aio_pika.Message(
                body=event.body(),
                message_id=str(event.id),
                type=event.routing_key,
                app_id=event.source,
                content_type="application/json",
                delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
                timestamp=event.occurred_at,
                headers=dict(headers),
            )
            channel = await broker.publishing_channel()
            try:
                exchange = await channel.get_exchange(EVENTS_EXCHANGE, ensure=False)
                # With publisher confirms on, this returns only once the broker has the message.
                await exchange.publish(message, routing_key=event.routing_key, timeout=5)
            except Exception as exc:
                span.record_exception(exc)
                span.set_status(trace.StatusCode.ERROR, str(exc))
                # A nack or a missing confirm may come from this channel's own state at the
                # broker (see Broker): the retry goes through a new channel.
                await broker.discard_publishing_channel()
                raise BrokerUnavailable(f"publish of {event.routing_key} failed: {exc}") from exc
    finally:
        otel_context.detach(token)
