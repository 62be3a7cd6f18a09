"""The public edge of a service: trace context and baggage from outside are not trusted.

``TrustBoundary.read`` sorts the headers of a request once, before anything else reads them
(the server span middleware, ``server_spans``, calls it first, as the outermost layer of the
app):

- a caller that presents our internal credential (``internal_credential``) is one of our
  services: its ``traceparent``, ``tracestate`` and ``baggage`` are kept as they came, the
  request joins the caller's trace and inherits its ``order.id``;
- any other caller's context headers are removed before anyone reads them: the request starts
  a new trace, and its server span gets at most a *link* to the context the caller claimed,
  marked untrusted;
- baggage over ``max_bytes`` or ``max_entries`` is ignored whole, even from a trusted caller:
  ours carries one entry (``order.id``), so anything larger is a bug or an attack.

The credential header itself is removed too, so nothing further in (logs, captured headers,
the audit log) can ever repeat it. RabbitMQ messages do not pass here: they come from our own
outbox through our own broker, and keep their context.
"""

from __future__ import annotations

import logging
from typing import Any

from opentelemetry import trace
from opentelemetry.trace import Link
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

from alexandrite.common.settings import TelemetrySettings
from alexandrite.common.telemetry.internal_calls import INTERNAL_CALLER
from alexandrite.common.telemetry.internal_credential import (
    INTERNAL_CREDENTIAL_HEADER,
    InternalCredential,
)

__all__ = ["BAGGAGE_IGNORED", "UNTRUSTED_LINK", "Edge", "TrustBoundary"]

_log = logging.getLogger(__name__)

BAGGAGE_IGNORED = "alexandrite.baggage.ignored"
UNTRUSTED_LINK = "alexandrite.link.untrusted"
_CREDENTIAL = INTERNAL_CREDENTIAL_HEADER.encode("ascii")
_TRACEPARENT = b"traceparent"
_BAGGAGE = b"baggage"
_USER_AGENT = b"user-agent"
_CONTEXT_HEADERS = frozenset({_TRACEPARENT, b"tracestate", _BAGGAGE})
# A traceparent is 55 characters; anything much longer is not parsed at all.
_MAX_TRACEPARENT_BYTES = 128
_CLAIMED = TraceContextTextMapPropagator()


class Edge:
    """What the boundary made of one request's headers."""

    __slots__ = ("attributes", "carrier", "headers", "links", "user_agent")

    def __init__(self) -> None:
        # The headers the app may see: no credential, and context headers only from our own.
        self.headers: list[tuple[bytes, bytes]] = []
        # The trusted context headers, for the propagator (``propagate.extract``); empty when
        # the caller is not one of ours.
        self.carrier: dict[str, list[str]] = {}
        # For the server span: ``alexandrite.caller.internal``, ``alexandrite.baggage.ignored``.
        self.attributes: dict[str, Any] = {}
        # At most one: the context an untrusted caller claimed, as data.
        self.links: list[Link] = []
        self.user_agent: bytes | None = None


class TrustBoundary:
    def __init__(self, credential: InternalCredential, *, max_bytes: int, max_entries: int) -> None:
        self._credential = credential
        self._max_bytes = max_bytes
        self._max_entries = max_entries

    @classmethod
    def from_settings(cls, settings: TelemetrySettings) -> TrustBoundary:
        credential = InternalCredential.from_file(settings.internal_token_file)
        if not credential.configured:
            _log.warning("no internal token configured: every caller starts a new trace")
        return cls(
            credential,
            max_bytes=settings.baggage_max_bytes,
            max_entries=settings.baggage_max_entries,
        )

    def read(self, raw_headers: Any) -> Edge:
        """One pass over the headers: who the caller is, and what of its context is kept."""
        edge = Edge()
        kept = edge.headers
        context: list[tuple[bytes, bytes]] = []
        presented: list[bytes] = []
        for name, value in raw_headers:
            lowered = name.lower()
            if lowered == _CREDENTIAL:
                presented.append(value)
            elif lowered in _CONTEXT_HEADERS:
                context.append((lowered, value))
            else:
                if lowered == _USER_AGENT and edge.user_agent is None:
                    edge.user_agent = value
                kept.append((name, value))
        if not context and not presented:
            return edge
        # Exactly one credential, and the right one: two headers are a confused or hostile client.
        if len(presented) == 1 and self._credential.accepts(presented[0]):
            edge.attributes[INTERNAL_CALLER] = True
            for name, value in self._capped(context, edge):
                kept.append((name, value))
                edge.carrier.setdefault(name.decode("latin-1"), []).append(value.decode("latin-1"))
        else:
            claimed = _claimed_context(context)
            if claimed is not None:
                edge.links.append(Link(claimed, {UNTRUSTED_LINK: True}))
        return edge

    def _capped(self, context: list[tuple[bytes, bytes]], edge: Edge) -> list[tuple[bytes, bytes]]:
        baggage = [value for name, value in context if name == _BAGGAGE]
        if not baggage:
            return context
        size = sum(len(value) for value in baggage)
        entries = sum(len([m for m in value.split(b",") if m.strip()]) for value in baggage)
        if size <= self._max_bytes and entries <= self._max_entries:
            return context
        edge.attributes[BAGGAGE_IGNORED] = f"{size} bytes, {entries} entries"
        return [(name, value) for name, value in context if name != _BAGGAGE]


def _claimed_context(context: list[tuple[bytes, bytes]]) -> trace.SpanContext | None:
    """The span context an untrusted caller claims (its traceparent only), for a link.

    A link, not a parent: a support engineer can follow it when the caller is a partner's
    system, and no search by trace id or ``order.id`` ever lands on it.
    """
    parents = [value for name, value in context if name == _TRACEPARENT]
    if len(parents) != 1 or len(parents[0]) > _MAX_TRACEPARENT_BYTES:
        return None
    carrier = {"traceparent": parents[0].decode("latin-1")}
    span_context = trace.get_current_span(_CLAIMED.extract(carrier)).get_span_context()
    return span_context if span_context.is_valid else None
