"""``order.id`` as baggage: set once where an order becomes known, copied onto every span.

A handler calls ``order_scope(order_id)``; the id then travels in W3C baggage over HTTP and AMQP,
and ``OrderBaggageSpanProcessor`` stamps it on every span started inside, in every service.

Only our code sets it, and only to an order id (a UUID, written canonically): baggage from
outside the platform never reaches a handler (``trust_boundary``), and a value that is not an
order id (markup, a list, a 4 kB string) is never copied onto a span, wherever it came from.
"""

from __future__ import annotations

import contextlib
import logging
import uuid
from collections.abc import Iterator

from opentelemetry import baggage, trace
from opentelemetry import context as otel_context
from opentelemetry.context import Context
from opentelemetry.sdk.trace import Span, SpanProcessor

__all__ = ["ORDER_ID", "OrderBaggageSpanProcessor", "canonical_order_id", "order_scope"]

ORDER_ID = "order.id"

_log = logging.getLogger(__name__)
# The canonical text of a UUID is 36 characters: longer input is refused before parsing.
_UUID_TEXT_LENGTH = 36


def canonical_order_id(value: object) -> str | None:
    """The canonical text of an order id (lower-case hyphenated UUID), or None if it is not one.

    Only the canonical form is accepted from text: ``uuid.UUID`` would also take braces, a
    ``urn:uuid:`` prefix or no hyphens, and one order would then be searched under two tags.
    """
    if isinstance(value, uuid.UUID):
        return str(value)
    if not isinstance(value, str) or len(value) != _UUID_TEXT_LENGTH:
        return None
    try:
        parsed = uuid.UUID(value)
    except ValueError:
        return None
    text = str(parsed)
    return text if text == value.lower() else None


class OrderBaggageSpanProcessor(SpanProcessor):
    def on_start(self, span: Span, parent_context: Context | None = None) -> None:
        order_id = canonical_order_id(baggage.get_baggage(ORDER_ID, parent_context))
        if order_id is not None:
            span.set_attribute(ORDER_ID, order_id)


@contextlib.contextmanager
def order_scope(order_id: uuid.UUID | str) -> Iterator[None]:
    """Put the order id in baggage for everything below, and on the current span now.

    A value that is not an order id changes nothing (the code below runs without it): the
    handler's own validation answers the client; tracing must not become a second validator.
    """
    value = canonical_order_id(order_id)
    if value is None:
        _log.debug("not an order id, not put on spans: %.60r", order_id)
        yield
        return
    trace.get_current_span().set_attribute(ORDER_ID, value)
    token = otel_context.attach(baggage.set_baggage(ORDER_ID, value))
    try:
        yield
    finally:
        otel_context.detach(token)
