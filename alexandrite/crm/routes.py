"""The CRM's HTTP routes (DESIGN.md §2): thin, every order route inside its order's scope."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Body, Query

from alexandrite.common.problems import problem_responses
from alexandrite.common.service import RuntimeDep
from alexandrite.common.telemetry.order_context import order_scope
from alexandrite.crm import handlers
from alexandrite.crm.domain import Pricing, ReviewStatus
from alexandrite.crm.metrics import CRM_METRICS, CrmMetrics
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


def _pricing(runtime: RuntimeDep) -> Pricing:
    pricing: Pricing = runtime.extras["pricing"]
    return pricing


@router.get("/orders", summary="Reviews, newest first (id is the order id)")
async def list_orders(
    runtime: RuntimeDep,
    status: ReviewStatus | None = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> list[ReviewSummary]:
    async with runtime.units_of_work() as uow:
        return await handlers.list_reviews(uow, status, limit)


@router.get(
    "/orders/{order_id}",
    summary="One review with its status history",
    responses=problem_responses(404),
)
async def get_order(order_id: uuid.UUID, runtime: RuntimeDep) -> ReviewDetail:
    with order_scope(order_id):
        async with runtime.units_of_work() as uow:
            return await handlers.review_detail(uow, order_id)


@router.post(
    "/orders/{order_id}/approve",
    summary="Approve at the quote or at a given price",
    responses=problem_responses(
        404, 409, descriptions={409: "not in review, or no quote and no price given"}
    ),
)
async def approve_order(
    order_id: uuid.UUID,
    runtime: RuntimeDep,
    body: Annotated[ApproveRequest | None, Body()] = None,
) -> ReviewDetail:
    request = body or ApproveRequest()
    with order_scope(order_id):
        async with runtime.units_of_work() as uow:
            return await handlers.approve(
                uow, _pricing(runtime), order_id, request.price, request.manager
            )


@router.post(
    "/orders/{order_id}/reject",
    summary="Reject with a reason the customer sees",
    responses=problem_responses(404, 409, descriptions={409: "not in review"}),
)
async def reject_order(
    order_id: uuid.UUID, body: RejectRequest, runtime: RuntimeDep
) -> ReviewDetail:
    with order_scope(order_id):
        async with runtime.units_of_work() as uow:
            return await handlers.reject(uow, order_id, body.reason, body.manager)


@router.post(
    "/complaints",
    status_code=201,
    summary="A customer's complaint about an order",
    responses=problem_responses(404),
)
async def create_complaint(body: ComplaintCreate, runtime: RuntimeDep) -> ComplaintView:
    with order_scope(body.order_id):
        async with runtime.units_of_work() as uow:
            complaint = await handlers.create_complaint(uow, body.order_id, body.text)
    metrics: CrmMetrics = runtime.extras[CRM_METRICS]
    metrics.complaints.inc()
    return complaint


@router.get("/complaints", summary="Complaints, oldest first, optionally of one order")
async def list_complaints(
    runtime: RuntimeDep, order_id: uuid.UUID | None = None
) -> list[ComplaintView]:
    async with runtime.units_of_work() as uow:
        if order_id is None:
            return await handlers.list_complaints(uow, None)
        with order_scope(order_id):
            return await handlers.list_complaints(uow, order_id)
