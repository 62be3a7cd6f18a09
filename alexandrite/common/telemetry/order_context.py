"""``order.id`` as baggage: set once where an order becomes known, copied onto every span.

A handler calls ``order_scope(order_id)``; the id then travels in W3C baggage over HTTP and AMQP,
and ``OrderBaggageSpanProcessor`` stamps it on every span started inside, in every service.
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Iterator

from opentelemetry import baggage, trace
from opentelemetry import context as otel_context
from opentelemetry.context import Context
from opentelemetry.sdk.trace import Span, SpanProcessor

__all__ = ["ORDER_ID", "OrderBaggageSpanProcessor", "order_scope"]

ORDER_ID = "order.id"


class OrderBaggageSpanProcessor(SpanProcessor):
    def on_start(self, span: Span, parent_context: Context | None = None) -> None:
        order_id = baggage.get_baggage(ORDER_ID, parent_context)
        if order_id is not None:
            span.set_attribute(ORDER_ID, str(order_id))


@contextlib.contextmanager
def order_scope(order_id: uuid.UUID | str) -> Iterator[None]:
    """Put the order id in baggage for everything below, and on the current span now."""
    value = str(order_id)
    trace.get_current_span().set_attribute(ORDER_ID, value)
    token = otel_context.attach(baggage.set_baggage(ORDER_ID, value))
    try:
        yield
    finally:
        otel_context.detach(token)
