"""The problem+json body of an error response as an event of the server span, so a support
engineer reads *why* a request failed in the trace. (The body sizes are counted by the server
span middleware itself, ``server_spans``.)
"""

from __future__ import annotations

from typing import Any

from opentelemetry import trace
from opentelemetry.trace import StatusCode

__all__ = ["PROBLEM_EVENT_MAX_BYTES", "record_problem"]

PROBLEM_EVENT_MAX_BYTES = 2048


def record_problem(status: int, body: dict[str, Any], raw: bytes, exc: BaseException) -> None:
    """Put an error answer on the current span: its problem body, its type, and for a 5xx the
    exception with its stack and the span status ERROR."""
    span = trace.get_current_span()
    if not span.is_recording():
        return
    span.set_attribute("error.type", str(body.get("type", type(exc).__name__)))
    span.add_event(
        "http.problem",
        {
            "http.response.status_code": status,
            "problem.title": str(body.get("title", "")),
            "problem.body": raw[:PROBLEM_EVENT_MAX_BYTES].decode("utf-8", "replace"),
        },
    )
    if status >= 500:
        span.record_exception(exc)
        span.set_status(StatusCode.ERROR, str(body.get("detail", "")))
