"""The Shop's HTTP routes (DESIGN.md §2): thin, everything happens in ``ShopHandlers``."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Body, Query, Request, status

from alexandrite.common.errors import InvalidInput
from alexandrite.common.problems import problem_responses
from alexandrite.shop.domain import OrderStatus
from alexandrite.shop.runtime import HandlersDep
from alexandrite.shop.schemas import (
    CancelRequest,
    HistoryEntry,
    ModelUploaded,
    OrderCreate,
    OrderCreated,
    OrderView,
)
from alexandrite.shop.store import Order

__all__ = ["router"]

router = APIRouter(tags=["orders"])


def _view(order: Order) -> OrderView:
    return OrderView(
        id=order.id,
        status=order.status,
        material=order.material,
        quantity=order.quantity,
        model_id=order.model_id,
        # The upload's trace id is for the support gateway only (internal_routes).
        model={k: v for k, v in order.model.items() if k != "trace_id"} if order.model else None,
        price=order.price,
        currency=order.currency,
        reason=order.reason,
        created_at=order.created_at,
        history=[HistoryEntry(status=h.status, at=h.at, reason=h.reason) for h in order.history],
    )


@router.post(
    "/orders",
    status_code=status.HTTP_201_CREATED,
    response_model=OrderCreated,
    responses=problem_responses(400, descriptions={400: "unknown material"}),
)
async def create_order(body: OrderCreate, handlers: HandlersDep) -> OrderCreated:
    order = await handlers.create_order(body)
    return OrderCreated(id=order.id, status=order.status)


_MULTIPART_MODEL = {
    "requestBody": {
        "required": True,
        "content": {
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "required": ["file"],
                    "properties": {"file": {"type": "string", "format": "binary"}},
                }
            }
        },
    }
}


@router.post(
    "/orders/{order_id}/model",
    status_code=status.HTTP_201_CREATED,
    response_model=ModelUploaded,
    openapi_extra=_MULTIPART_MODEL,
    summary="Upload the order's 3D model (STL, OBJ or 3MF), streamed to the file storage",
    responses=problem_responses(
        400,
        404,
        409,
        413,
        422,
        503,
        descriptions={
            400: "not a multipart body with a 'file' field",
            409: "the order was already submitted",
            413: "the model is larger than the upload limit",
            422: "the model cannot be read or is not a printable mesh",
            503: "the file storage is unreachable",
        },
    ),
)
async def upload_model(
    order_id: uuid.UUID, request: Request, handlers: HandlersDep
) -> ModelUploaded:
    content_type = request.headers.get("content-type", "")
    if not content_type.startswith("multipart/form-data"):
        raise InvalidInput("send the model as multipart/form-data with a field named 'file'")
    model = await handlers.attach_model(
        order_id, request.stream(), content_type, request.headers.get("content-length")
    )
    return ModelUploaded(
        order_id=order_id,
        model_id=model["id"],
        sha256=model["sha256"],
        size_bytes=model["size_bytes"],
        format=model["format"],
        analysis=model["analysis"],
    )


@router.post(
    "/orders/{order_id}/submit",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=OrderCreated,
    responses=problem_responses(404, 409, descriptions={409: "no model yet, or not created"}),
)
async def submit_order(order_id: uuid.UUID, handlers: HandlersDep) -> OrderCreated:
    order = await handlers.submit(order_id)
    return OrderCreated(id=order.id, status=order.status)


@router.post(
    "/orders/{order_id}/cancel",
    response_model=OrderCreated,
    responses=problem_responses(404, 409, descriptions={409: "the order can no longer change"}),
)
async def cancel_order(
    order_id: uuid.UUID,
    handlers: HandlersDep,
    body: Annotated[CancelRequest | None, Body()] = None,
) -> OrderCreated:
    order = await handlers.cancel(order_id, body.reason if body is not None else None)
    return OrderCreated(id=order.id, status=order.status)


@router.get("/orders/{order_id}", response_model=OrderView, responses=problem_responses(404))
async def get_order(order_id: uuid.UUID, handlers: HandlersDep) -> OrderView:
    return _view(await handlers.get(order_id))


@router.get("/orders", response_model=list[OrderView])
async def list_orders(
    handlers: HandlersDep,
    status_filter: Annotated[OrderStatus | None, Query(alias="status")] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    oldest_first: Annotated[
        bool, Query(description="longest unchanged first (the notifier's stuck-order lookup)")
    ] = False,
) -> list[OrderView]:
    orders = await handlers.list(status_filter, limit, oldest_first=oldest_first)
    return [_view(order) for order in orders]
