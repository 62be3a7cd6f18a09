"""The business vocabulary of spans (DESIGN.md §3): order status and its changes."""

from __future__ import annotations

from opentelemetry import trace

__all__ = ["record_status_change"]


def record_status_change(old: str | None, new: str, service_span: trace.Span | None = None) -> None:
    """Set ``order.status`` and add an ``order.status_changed`` event on the current span."""
    span = service_span or trace.get_current_span()
    span.set_attribute("order.status", new)
    span.add_event(
        "order.status_changed",
        {"order.status.from": old or "", "order.status.to": new},
    )
