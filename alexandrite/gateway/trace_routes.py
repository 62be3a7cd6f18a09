"""The tracing system behind the gateway, for the ``support`` role only: the Zipkin UI and API,
and the order journey (JSON and page). The audit log's tail is for ``admin``."""

from __future__ import annotations

import re
import uuid
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from alexandrite.common.errors import DependencyFailed, InvalidInput, NotFound
from alexandrite.gateway.access import require_role
from alexandrite.gateway.audit_log import row_dict
from alexandrite.gateway.audit_middleware import audit_context
from alexandrite.gateway.notifications import MAX_NOTIFICATIONS
from alexandrite.gateway.pages import journey_page, notifications_page, span_page
from alexandrite.gateway.principal import ADMIN, SUPPORT
from alexandrite.gateway.runtime import RuntimeDep
from alexandrite.gateway.span_page import SPAN_ID, TRACE_ID, span_view

__all__ = ["router"]

router = APIRouter()


@router.api_route("/zipkin", methods=["GET", "HEAD"], include_in_schema=False)
async def zipkin_root(request: Request, runtime: RuntimeDep) -> Response:
    await require_role(request, runtime.accounts, SUPPORT)
    return RedirectResponse("/zipkin/", status_code=307)


@router.api_route(
    "/zipkin/{path:path}",
    methods=["GET", "HEAD"],
    summary="The Zipkin UI and API (support only), proxied to Zipkin",
)
async def zipkin(request: Request, runtime: RuntimeDep, path: str) -> Response:
    await require_role(request, runtime.accounts, SUPPORT)
    return await runtime.proxy.forward(request)


@router.get("/api/v1/orders/{order_id}/journey", summary="The order's journey (support only)")
async def journey(request: Request, runtime: RuntimeDep, order_id: uuid.UUID) -> dict[str, Any]:
    await require_role(request, runtime.accounts, SUPPORT)
    audit_context(request).order_id = str(order_id)
    return await runtime.journeys.journey(order_id)


@router.get(
    "/api/v1/orders",
    summary="Orders stalled now, failed or rejected in the last 24 h, or slowest today (support)",
)
async def order_list(
    request: Request,
    runtime: RuntimeDep,
    view: Annotated[Literal["stalled", "failed", "slowest"], Query()],
) -> list[dict[str, Any]]:
    await require_role(request, runtime.accounts, SUPPORT)
    context = audit_context(request)
    context.detail = f"{context.detail}; list {view}"
    return await runtime.lists.view(view)


_ORDER_PREFIX = re.compile(r"^[0-9a-fA-F-]{4,36}$")


@router.get("/orders/lookup", include_in_schema=False)
async def lookup(
    request: Request, runtime: RuntimeDep, order_id: Annotated[str, Query(max_length=64)]
) -> Response:
    """A full order id, or a prefix of one that matches exactly one order."""
    await require_role(request, runtime.accounts, SUPPORT)
    text = order_id.strip()
    try:
        return RedirectResponse(f"/orders/{uuid.UUID(text)}", status_code=303)
    except ValueError:
        pass
    if not _ORDER_PREFIX.match(text):
        raise InvalidInput(f"not an order id or the start of one: {text}")
    found = await runtime.lists.find(text)
    if len(found) != 1:
        raise InvalidInput(
            f"no order id starts with {text}"
            if not found
            else f"more than one order id starts with {text}: type more of it"
        )
    return RedirectResponse(f"/orders/{found[0]}", status_code=303)


@router.get("/orders/{order_id}", response_class=HTMLResponse, include_in_schema=False)
async def journey_html(request: Request, runtime: RuntimeDep, order_id: uuid.UUID) -> HTMLResponse:
    principal = await require_role(request, runtime.accounts, SUPPORT)
    audit_context(request).order_id = str(order_id)
    return HTMLResponse(journey_page(await runtime.journeys.journey(order_id), principal))


@router.get(
    "/traces/{trace_id}/spans/{span_id}", response_class=HTMLResponse, include_in_schema=False
)
async def span_html(
    request: Request, runtime: RuntimeDep, trace_id: str, span_id: str
) -> HTMLResponse:
    """One span of a trace, read from Zipkin (whose UI cannot open a trace at a span)."""
    principal = await require_role(request, runtime.accounts, SUPPORT)
    trace_id, span_id = trace_id.lower(), span_id.lower()
    # All zeros is no id (W3C trace context; Zipkin answers 400 for it).
    if not TRACE_ID.match(trace_id) or not SPAN_ID.match(span_id) or not int(trace_id, 16):
        raise InvalidInput("a trace id is 16 or 32 hex digits and a span id 16, not all zero")
    traces, note = await runtime.journeys.traces([trace_id])
    if note is not None:
        raise DependencyFailed(note, retry_after_s=5)
    view = span_view(traces[0], span_id) if traces else None
    if view is None:
        raise NotFound(f"no span {span_id} in trace {trace_id} (not stored, or not yet)")
    return HTMLResponse(span_page(view, principal))


@router.get(
    "/api/v1/notifications",
    summary="The notifier's notifications, newest first, with the orders they name (support)",
)
async def notification_list(
    request: Request,
    runtime: RuntimeDep,
    limit: Annotated[int, Query(ge=1, le=MAX_NOTIFICATIONS)] = 50,
) -> list[dict[str, Any]]:
    await require_role(request, runtime.accounts, SUPPORT)
    context = audit_context(request)
    context.detail = f"{context.detail}; notifications"
    rows = await runtime.notifications.latest(limit)
    if isinstance(rows, str):
        raise DependencyFailed(rows, retry_after_s=5)
    return rows


@router.get("/notifications", response_class=HTMLResponse, include_in_schema=False)
async def notifications_html(
    request: Request,
    runtime: RuntimeDep,
    limit: Annotated[int, Query(ge=1, le=MAX_NOTIFICATIONS)] = 50,
) -> HTMLResponse:
    principal = await require_role(request, runtime.accounts, SUPPORT)
    context = audit_context(request)
    context.detail = f"{context.detail}; notifications"
    return HTMLResponse(notifications_page(await runtime.notifications.latest(limit), principal))


@router.get("/api/v1/audit", summary="The newest audit entries (admin only)")
async def audit_tail(
    request: Request, runtime: RuntimeDep, limit: Annotated[int, Query(ge=1, le=1000)] = 100
) -> list[dict[str, Any]]:
    await require_role(request, runtime.accounts, ADMIN)
    return [row_dict(row) for row in await runtime.audit.tail(limit)]
