"""The public edge of a service: trace context and baggage from outside are not trusted.

``TrustBoundaryMiddleware`` wraps the whole ASGI app, outside the OpenTelemetry middleware, so
it decides what that middleware may read:

- a caller that presents our internal credential (``internal_credential``) is one of our
  services: its ``traceparent``, ``tracestate`` and ``baggage`` pass as they came, the request
  joins the caller's trace and inherits its ``order.id``;
- any other caller's context headers are removed before anyone reads them: the request starts
  a new trace, and its server span gets at most a *link* to the context the caller claimed
  (``link_claimed_context``, the instrumentation's server request hook), marked untrusted;
- baggage over ``max_bytes`` or ``max_entries`` is ignored whole, even from a trusted caller:
  ours carries one entry (``order.id``), so anything larger is a bug or an attack.

The credential header itself is removed too, so nothing further in (logs, captured headers,
the audit log) can ever repeat it. RabbitMQ messages do not pass here: they come from our own
outbox through our own broker, and keep their context.
"""

from __future__ import annotations

import logging
from typing import Any

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator
from starlette.applications import Starlette
from starlette.types import ASGIApp, Receive, Scope, Send

from alexandrite.common.settings import TelemetrySettings
from alexandrite.common.telemetry.internal_calls import INTERNAL_CALLER
from alexandrite.common.telemetry.internal_credential import (
    INTERNAL_CREDENTIAL_HEADER,
    InternalCredential,
)

__all__ = [
    "CLAIMED_CONTEXT_KEY",
    "TrustBoundaryMiddleware",
    "guard_public_edge",
    "link_claimed_context",
]

_log = logging.getLogger(__name__)

CLAIMED_CONTEXT_KEY = "alexandrite.claimed_trace_context"
_IGNORED_BAGGAGE_KEY = "alexandrite.ignored_baggage"
_INTERNAL_KEY = "alexandrite.internal_caller"
_CREDENTIAL = INTERNAL_CREDENTIAL_HEADER.encode("ascii")
_TRACEPARENT = b"traceparent"
_CONTEXT_HEADERS = frozenset({_TRACEPARENT, b"tracestate", b"baggage"})
# A traceparent is 55 characters; anything much longer is not parsed at all.
_MAX_TRACEPARENT_BYTES = 128


class TrustBoundaryMiddleware:
    def __init__(
        self, app: ASGIApp, credential: InternalCredential, *, max_bytes: int, max_entries: int
    ) -> None:
        self.app = app
        self._credential = credential
        self._max_bytes = max_bytes
        self._max_entries = max_entries

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        kept: list[tuple[bytes, bytes]] = []
        context: list[tuple[bytes, bytes]] = []
        presented: list[bytes] = []
        for name, value in scope.get("headers", ()):
            lowered = name.lower()
            if lowered == _CREDENTIAL:
                presented.append(value)
            elif lowered in _CONTEXT_HEADERS:
                context.append((lowered, value))
            else:
                kept.append((name, value))
        # Exactly one credential, and the right one: two headers are a confused or hostile client.
        trusted = len(presented) == 1 and self._credential.accepts(presented[0])
        scope = dict(scope)
        if trusted:
            kept += self._capped(context, scope)
            scope[_INTERNAL_KEY] = True
        else:
            claimed = _claimed_context(context)
            if claimed is not None:
                scope[CLAIMED_CONTEXT_KEY] = claimed
        scope["headers"] = kept
        # From an empty context: what the headers say is all a request starts from. Whatever
        # the serving task inherited (in the in-process test stack, the context of the client
        # that opened the connection, baggage and all) must not reach the request.
        token = otel_context.attach(otel_context.Context())
        try:
            await self.app(scope, receive, send)
        finally:
            otel_context.detach(token)

    def _capped(
        self, context: list[tuple[bytes, bytes]], scope: dict[str, Any]
    ) -> list[tuple[bytes, bytes]]:
        baggage = [value for name, value in context if name == b"baggage"]
        size = sum(len(value) for value in baggage)
        entries = sum(len([m for m in value.split(b",") if m.strip()]) for value in baggage)
        if size <= self._max_bytes and entries <= self._max_entries:
            return context
        scope[_IGNORED_BAGGAGE_KEY] = f"{size} bytes, {entries} entries"
        return [(name, value) for name, value in context if name != b"baggage"]


def _claimed_context(context: list[tuple[bytes, bytes]]) -> trace.SpanContext | None:
    """The span context an untrusted caller claims (its traceparent only), for a link."""
    parents = [value for name, value in context if name == _TRACEPARENT]
    if len(parents) != 1 or len(parents[0]) > _MAX_TRACEPARENT_BYTES:
        return None
    carrier = {"traceparent": parents[0].decode("latin-1")}
    span_context = trace.get_current_span(
        TraceContextTextMapPropagator().extract(carrier)
    ).get_span_context()
    return span_context if span_context.is_valid else None


def link_claimed_context(span: trace.Span, scope: dict[str, Any]) -> None:
    """Server request hook: record on the new server span what the caller claimed, as data.

    A link, not a parent: a support engineer can follow it when the caller is a partner's
    system, and no search by trace id or ``order.id`` ever lands on it.
    """
    if not span.is_recording():
        return
    claimed = scope.get(CLAIMED_CONTEXT_KEY)
    if isinstance(claimed, trace.SpanContext):
        span.add_link(claimed, {"alexandrite.link.untrusted": True})
    if scope.get(_INTERNAL_KEY) is True:
        # Lets the exporter drop a bare read our own caller already records (internal_calls).
        span.set_attribute(INTERNAL_CALLER, True)
    ignored = scope.get(_IGNORED_BAGGAGE_KEY)
    if ignored is not None:
        span.set_attribute("alexandrite.baggage.ignored", str(ignored))


def guard_public_edge(app: Starlette, settings: TelemetrySettings) -> None:
    """Put the boundary around `app`'s whole middleware stack, the instrumentation's included.

    Call it after ``FastAPIInstrumentor.instrument_app``: that wraps the stack in its own
    middleware when the app first builds it, and the boundary has to be outside of it.
    """
    credential = InternalCredential.from_file(settings.internal_token_file)
    if not credential.configured:
        _log.warning("no internal token configured: every caller starts a new trace")
    build_instrumented = app.build_middleware_stack

    def build_guarded() -> ASGIApp:
        return TrustBoundaryMiddleware(
            build_instrumented(),
            credential,
            max_bytes=settings.baggage_max_bytes,
            max_entries=settings.baggage_max_entries,
        )

    app.build_middleware_stack = build_guarded  # type: ignore[method-assign]
