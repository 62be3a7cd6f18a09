"""Request and response details on the server span: body sizes, and the problem+json body of an
error response as a span event, so a support engineer reads *why* a request failed in the trace.
"""

from __future__ import annotations

from typing import Any

from opentelemetry import trace
from opentelemetry.trace import StatusCode
from starlette.types import ASGIApp, Message, Receive, Scope, Send

__all__ = ["PROBLEM_EVENT_MAX_BYTES", "BodySizeMiddleware", "record_problem"]

PROBLEM_EVENT_MAX_BYTES = 2048


class BodySizeMiddleware:
    """Counts the bytes of each request and response body onto the current server span."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        span = trace.get_current_span()
        received = 0
        sent = 0

        async def counting_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
            return message

        async def counting_send(message: Message) -> None:
            nonlocal sent
            if message["type"] == "http.response.body":
                sent += len(message.get("body", b""))
                if not message.get("more_body", False) and span.is_recording():
                    # Before the last chunk leaves: the server span ends with it.
                    span.set_attribute("http.request.body.size", received)
                    span.set_attribute("http.response.body.size", sent)
            await send(message)

        await self.app(scope, counting_receive, counting_send)


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
