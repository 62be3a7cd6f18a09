"""Writes the audit row of every request, before its response leaves.

A pure ASGI middleware: it holds back the response's first message (``http.response.start``)
until the row, with the final status code, is committed. If the audit log cannot be written the
client gets 503 instead of the response: no access without its record (fail closed). Routes
fill in who asked and why they were refused through ``audit_context(request)``.

Every request is audited except the probes (``/health``, ``/ready``). Secrets in the query
string are masked before the row is written (``alexandrite.common.query_secrets``). A path or
query holding a NUL byte is audited and answered 400 here, before any route sees it.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, unquote

from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from alexandrite.common.query_secrets import redact_query
from alexandrite.gateway.audit_log import AuditEntry, AuditLog

__all__ = ["AuditContext", "AuditMiddleware", "audit_context", "audited_action"]

_log = logging.getLogger(__name__)
_KEY = "alexandrite.audit"
_TRACE_ID = re.compile(r"/traces?/([0-9a-fA-F]{16,32})(?:$|[/?])")
_ORDER_IN_QUERY = re.compile(r"order\.id=([0-9a-fA-F-]{36})")
_ORDER_IN_PATH = re.compile(r"/orders/([0-9a-fA-F-]{36})(?:$|/)")
# Polled every second by the supervisor and Prometheus; they carry no credentials.
_PROBES = frozenset({"/health", "/ready"})


@dataclass
class AuditContext:
    actor: str | None = None
    role: str | None = None
    result: str | None = None
    detail: str | None = None
    order_id: str | None = None


def audit_context(request: Request) -> AuditContext:
    context = request.scope.get(_KEY)
    if not isinstance(context, AuditContext):
        context = AuditContext()
        request.scope[_KEY] = context
    return context


def audited_action(method: str, path: str) -> str | None:
    """The audit action of a request, or None for requests that are not audited."""
    if path.startswith("/api/v1/orders") and not path.startswith("/api/v1/orders/"):
        return "orders.list"
    if path == "/zipkin" or path.startswith("/zipkin/"):
        return "zipkin.api" if path.startswith("/zipkin/api/") else "zipkin.ui"
    if path.startswith("/api/v1/orders/") or path.startswith("/orders/"):
        return "journey"
    if path.startswith("/traces/"):
        return "span"
    if path == "/auth/login" and method == "POST":
        return "login"
    if path == "/auth/logout":
        return "logout"
    if path in ("/notifications", "/api/v1/notifications"):
        return "notifications.list"
    if path.startswith("/api/v1/audit"):
        return "audit.read"
    if path in _PROBES:
        return None
    return "request"


def _result(status: int) -> str:
    if status < 400:
        return "allowed"
    if status in (401, 403):
        return "denied"
    if status == 429:
        return "rate_limited"
    return "error"


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", []):
        if key == name:
            return str(value.decode("latin-1"))
    return None


class AuditMiddleware:
    def __init__(self, app: ASGIApp, audit_log: Callable[[], AuditLog]) -> None:
        self.app = app
        self.audit_log = audit_log

    def _entry(self, scope: Scope, action: str, status: int) -> AuditEntry:
        context: AuditContext = scope[_KEY]
        path: str = scope["path"]
        query = redact_query(scope.get("query_string", b"").decode("latin-1"))
        full_path = f"{path}?{query}" if query else path
        trace = _TRACE_ID.search(path)
        order = _ORDER_IN_PATH.search(path) or _ORDER_IN_QUERY.search(unquote(query))
        if order is None and query:
            values = parse_qs(query).get("order_id")
            order = _ORDER_IN_QUERY.search(f"order.id={values[0]}") if values else None
        client = scope.get("client")
        return AuditEntry(
            action=action,
            result=context.result or _result(status),
            status_code=status,
            actor=context.actor,
            role=context.role,
            method=scope.get("method"),
            path=full_path,
            trace_id=trace.group(1).lower() if trace else None,
            order_id=context.order_id or (order.group(1).lower() if order else None),
            client=client[0] if client else None,
            user_agent=_header(scope, b"user-agent"),
            detail=context.detail,
        )

    async def _refuse_nul(self, scope: Scope, action: str, send: Send) -> None:
        context: AuditContext = scope[_KEY]
        context.result, context.detail = "refused", "NUL byte in the path or query"
        try:
            await self.audit_log().append(self._entry(scope, action, 400))
        except Exception:
            _log.exception("the audit log could not be written: refusing the request")
            await _unavailable(send)
            return
        await _problem(send, 400, "bad-request", "Bad request", context.detail)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        action = audited_action(scope["method"], scope["path"])
        if action is None:
            await self.app(scope, receive, send)
            return
        scope[_KEY] = AuditContext()
        state: dict[str, Any] = {"started": False, "refused": False}
        if _holds_nul(scope):
            await self._refuse_nul(scope, action, send)
            return

        async def write(status: int) -> bool:
            try:
                await self.audit_log().append(self._entry(scope, action, status))
            except Exception:
                _log.exception("the audit log could not be written: refusing the request")
                return False
            return True

        async def audited_send(message: Message) -> None:
            if state["refused"]:
                return
            if message["type"] == "http.response.start":
                state["started"] = True
                if not await write(int(message["status"])):
                    state["refused"] = True
                    await _unavailable(send)
                    return
            await send(message)

        try:
            await self.app(scope, receive, audited_send)
        except Exception:
            if not state["started"]:
                # The error handler outside this middleware answers 500: record that.
                await write(500)
            raise


def _holds_nul(scope: Scope) -> bool:
    raw_path = scope.get("raw_path") or b""
    return (
        "\x00" in scope["path"]
        or b"\x00" in raw_path
        or b"%00" in scope.get("query_string", b"")
        or b"\x00" in scope.get("query_string", b"")
    )


async def _unavailable(send: Send) -> None:
    await _problem(
        send,
        503,
        "audit-unavailable",
        "Audit log unavailable",
        "access is refused while the audit log cannot be written",
    )


async def _problem(send: Send, status: int, kind: str, title: str, detail: str) -> None:
    body = json.dumps(
        {
            "type": f"https://alexandrite.example/problems/{kind}",
            "title": title,
            "status": status,
            "detail": detail,
        }
    ).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/problem+json"),
                (b"content-length", str(len(body)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
