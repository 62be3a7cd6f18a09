"""The CRM's HTTP routes (DESIGN.md §2): one-liners, every decision is in ``CrmHandlers``."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Body, Query

from alexandrite.common.problems import problem_responses
from alexandrite.crm.domain import ReviewStatus
from alexandrite.crm.runtime import HandlersDep
from alexandrite.crm.schemas import (
    ApproveRequest,
    ComplaintCreate,
    ComplaintView,
    RejectRequest,
    ReviewDetail,
    ReviewSummary,
)

__all__ = ["router"]

router = APIRouter(tags=["crm"])


@router.get("/orders", summary="Reviews, newest first (id is the order id)")
async def list_orders(
    handlers: HandlersDep,
    status: ReviewStatus | None = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> list[ReviewSummary]:
    return await handlers.list_reviews(status, limit)


@router.get(
    "/orders/{order_id}",
    summary="One review with its status history",
    responses=problem_responses(404),
)
async def get_order(order_id: uuid.UUID, handlers: HandlersDep) -> ReviewDetail:
    return await handlers.review_detail(order_id)


@router.post(
    "/orders/{order_id}/approve",
    summary="Approve at the quote or at a given price",
    responses=problem_responses(
        404, 409, descriptions={409: "not in review, or no quote and no price given"}
    ),
)
async def approve_order(
    order_id: uuid.UUID,
    handlers: HandlersDep,
    body: Annotated[ApproveRequest | None, Body()] = None,
) -> ReviewDetail:
    request = body or ApproveRequest()
    return await handlers.approve(order_id, request.price, request.manager)


@router.post(
    "/orders/{order_id}/reject",
    summary="Reject with a reason the customer sees",
    responses=problem_responses(404, 409, descriptions={409: "not in review"}),
)
async def reject_order(
    order_id: uuid.UUID, body: RejectRequest, handlers: HandlersDep
) -> ReviewDetail:
    return await handlers.reject(order_id, body.reason, body.manager)


@router.post(
    "/complaints",
    status_code=201,
    summary="A customer's complaint about an order",
    responses=problem_responses(404),
)
async def create_complaint(body: ComplaintCreate, handlers: HandlersDep) -> ComplaintView:
    return await handlers.create_complaint(body.order_id, body.text)


@router.get("/complaints", summary="Complaints, oldest first, optionally of one order")
async def list_complaints(
    handlers: HandlersDep, order_id: uuid.UUID | None = None
) -> list[ComplaintView]:
    return await handlers.list_complaints(order_id)
