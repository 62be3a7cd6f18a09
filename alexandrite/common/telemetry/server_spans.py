"""The server span of each HTTP request, made by one ASGI layer of our own.

It replaces the FastAPI/ASGI instrumentation of OpenTelemetry, which cost per request about as
much as the span itself (docs/performance.md): it matched the route a second time to name the
span, decoded every header once per header it looked for, set each attribute twice, and came
with three more layers (two ``ServerErrorMiddleware``, an exception recorder) besides the body
counter and the trust boundary. ``ServerSpanMiddleware`` is the outermost layer of the app and
does, per request:

- the trust boundary (``trust_boundary.TrustBoundary.read``): one pass over the headers, which
  also yields the trusted context headers and the user agent;
- no span for the paths of ``EXCLUDED_PATHS`` (probes, scrapes, the model download);
- one ``start_span`` with the request's attributes (the stable HTTP semantic conventions, the
  same names and values the upstream middleware set), a link to an untrusted caller's claimed
  context, ``alexandrite.caller.internal`` for our own callers;
- the request and response body sizes counted on the way through;
- at the last chunk of the response, one ``set_attributes`` with the route, the status and the
  sizes, the name ``<METHOD> <route>`` and the end of the span. The route is the template of
  the route FastAPI matched (``scope["route"]``), looked up in a table built once from the
  app's routes: never a second match.

An error answer is recorded by the error handlers (``http_details.record_problem``: the
problem body as an event, for a 5xx the exception and status ERROR) while this span is
current; a 5xx status always makes it ERROR with ``error.type`` the status code.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from fastapi.routing import iter_route_contexts
from opentelemetry import context as otel_context
from opentelemetry import propagate, trace
from opentelemetry.context import Context
from opentelemetry.trace import SpanKind, StatusCode
from opentelemetry.util.http import detect_synthetic_user_agent, sanitize_method
from starlette.routing import Match
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from alexandrite.common.telemetry.trust_boundary import TrustBoundary

__all__ = ["EXCLUDED_PATHS", "RouteTemplates", "ServerSpanMiddleware"]

# Probes and scrapes would otherwise be most of the spans and none of the story. The download
# of a model's content is called only by our own services (the MES, before printing), whose
# client span already records the call, its status and its duration: a server span under it
# said nothing more (span budget, docs/tracing.md). Searched in the request's path.
EXCLUDED_PATHS = re.compile(r"health|ready|metrics|/api/v1/models/[^/?]+/content/?$")

_RESPONSE_END = frozenset({"http.response.body", "http.response.pathsend"})


class RouteTemplates:
    """The full path template of a matched route (``/api/v1/orders/{order_id}``).

    FastAPI puts the matched route in ``scope["route"]``, but a route of an included router
    knows only its own path (``/orders/{order_id}``), not the prefix it was included with.
    The table maps each route object of the app to its template, from FastAPI's own list of
    the app's route contexts; it is built at the first request and again when a route is not
    found in it (routes added later).
    """

    def __init__(self, routes: Callable[[], Any]) -> None:
        self._routes = routes
        # id -> (the route, kept so that its id is not reused; its template; or, for a route
        # of a router included twice, under two prefixes, its contexts to tell them apart)
        self._templates: dict[int, tuple[object, str | None, tuple[Any, ...]]] = {}

    def of(self, scope: Scope) -> str | None:
        route = scope.get("route")
        if route is None:
            return None
        found = self._templates.get(id(route))
        if found is None or found[0] is not route:
            self._build()
            found = self._templates.get(id(route))
            if found is None or found[0] is not route:
                # Not one of the app's routes (a mounted app's): its own template.
                found = (route, getattr(route, "path_format", None), ())
                self._templates[id(route)] = found
        _, template, contexts = found
        for context in contexts:
            match, _ = context.matches(scope)
            if match is not Match.NONE:
                return str(context.path_format)
        return template

    def _build(self) -> None:
        grouped: dict[int, list[Any]] = {}
        originals: dict[int, object] = {}
        for context in iter_route_contexts(self._routes()):
            original = context.original_route
            grouped.setdefault(id(original), []).append(context)
            originals[id(original)] = original
        self._templates = {
            key: (
                originals[key],
                contexts[0].path_format,
                tuple(contexts) if len(contexts) > 1 else (),
            )
            for key, contexts in grouped.items()
        }


def _decoded(value: bytes) -> str:
    try:
        return value.decode("utf-8")
    except ValueError:
        return value.decode("unicode_escape")


def _request_attributes(scope: Scope, user_agent: bytes | None) -> tuple[str, dict[str, Any]]:
    """The span's name before routing (the method) and its request attributes."""
    attributes = _connection_attributes(scope)
    path = scope.get("path")
    if path:
        attributes["url.path"] = path
        query = scope.get("query_string")
        if query:
            attributes["url.query"] = query.decode("utf-8") if isinstance(query, bytes) else query
    original = scope.get("method", "").strip()
    method = sanitize_method(original)
    if method:
        attributes["http.request.method"] = method
        if method != original:
            attributes["http.request.method_original"] = original
    if user_agent is not None:
        agent = _decoded(user_agent)
        if agent:
            attributes["user_agent.original"] = agent
            synthetic = detect_synthetic_user_agent(agent)
            if synthetic:
                attributes["user_agent.synthetic.type"] = synthetic
    return ("HTTP" if method == "_OTHER" else method), attributes


def _connection_attributes(scope: Scope) -> dict[str, Any]:
    attributes: dict[str, Any] = {}
    scheme = scope.get("scheme")
    if scheme:
        attributes["url.scheme"] = scheme
    host, port = scope.get("server") or ("0.0.0.0", 80)
    attributes["server.address"] = host + (":" + str(port) if str(port) != "80" else "")
    if isinstance(port, int) and port:
        attributes["server.port"] = port
    version = scope.get("http_version")
    if version:
        attributes["network.protocol.version"] = version
    client = scope.get("client")
    if client is not None:
        if client[0]:
            attributes["client.address"] = client[0]
        if client[1]:
            attributes["client.port"] = int(client[1])
    return attributes


class ServerSpanMiddleware:
    def __init__(
        self,
        app: ASGIApp,
        *,
        tracer: trace.Tracer,
        boundary: TrustBoundary,
        routes: RouteTemplates,
        excluded: re.Pattern[str] = EXCLUDED_PATHS,
    ) -> None:
        self.app = app
        self._tracer = tracer
        self._boundary = boundary
        self._routes = routes
        self._excluded = excluded

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        edge = self._boundary.read(scope.get("headers", ()))
        scope = dict(scope)
        scope["headers"] = edge.headers
        # From an empty context: what the headers say is all a request starts from. Whatever
        # the serving task inherited (in the in-process test stack, the context of the client
        # that opened the connection, baggage and all) must not reach the request.
        parent = propagate.extract(edge.carrier, context=Context()) if edge.carrier else Context()
        if kind != "http" or self._excluded.search(scope.get("path", "")):
            token = otel_context.attach(parent)
            try:
                await self.app(scope, receive, send)
            finally:
                otel_context.detach(token)
            return
        method, attributes = _request_attributes(scope, edge.user_agent)
        if edge.attributes:
            attributes.update(edge.attributes)
        span = self._tracer.start_span(
            method,
            context=parent,
            kind=SpanKind.SERVER,
            attributes=attributes,
            links=edge.links or None,
        )
        exchange = _Exchange(span, method, scope, receive, send, self._routes)
        token = otel_context.attach(trace.set_span_in_context(span, parent))
        try:
            await self.app(scope, exchange.receive, exchange.send)
        except BaseException as exc:
            exchange.failed(exc)
            raise
        finally:
            otel_context.detach(token)
            if not exchange.ended:
                exchange.end()


class _Exchange:
    """One request's span, and the bodies counted on it until the last chunk of the answer."""

    __slots__ = (
        "_receive",
        "_routes",
        "_scope",
        "_send",
        "ended",
        "method",
        "received",
        "sent",
        "span",
        "status",
    )

    def __init__(
        self,
        span: trace.Span,
        method: str,
        scope: Scope,
        receive: Receive,
        send: Send,
        routes: RouteTemplates,
    ) -> None:
        self.span = span
        self.method = method
        self._scope = scope
        self._receive = receive
        self._send = send
        self._routes = routes
        self.received = 0
        self.sent = 0
        self.status = 0
        self.ended = False

    async def receive(self) -> Message:
        message = await self._receive()
        if message["type"] == "http.request":
            self.received += len(message.get("body", b""))
        return message

    async def send(self, message: Message) -> None:
        kind = message["type"]
        if kind == "http.response.start":
            self.status = int(message["status"])
        elif kind in _RESPONSE_END:
            self.sent += len(message.get("body", b""))
            if not message.get("more_body", False):
                await self._send(message)
                # After the last chunk left: the span lasts as long as the answer took.
                if not self.ended:
                    self.end()
                return
        await self._send(message)

    def failed(self, exc: BaseException) -> None:
        """Only when no answer was completed (the error handlers answer every exception and
        record it): the exception is all this span can say."""
        span = self.span
        if not self.ended and span.is_recording():
            span.record_exception(exc)
            span.set_status(StatusCode.ERROR, f"{type(exc).__name__}: {exc}")
            span.set_attribute("error.type", type(exc).__qualname__)

    def end(self) -> None:
        self.ended = True
        span = self.span
        if not span.is_recording():
            return
        final: dict[str, Any] = {
            "http.request.body.size": self.received,
            "http.response.body.size": self.sent,
        }
        route = self._routes.of(self._scope)
        if route:
            final["http.route"] = route
            span.update_name(f"{self.method} {route}")
        status = self.status
        if status:
            final["http.response.status_code"] = status
            if status >= 500 or status < 100:
                final["error.type"] = str(status)
                # Keeps the description the error handler gave (record_problem).
                current = getattr(span, "status", None)
                if current is None or current.status_code is not StatusCode.ERROR:
                    span.set_status(StatusCode.ERROR)
        span.set_attributes(final)
        span.end()
