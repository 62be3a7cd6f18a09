"""The CRM's use cases: decide on a review (a manager or the auto-approval policy), list and
read reviews, take complaints.

``CrmHandlers`` holds the use cases the HTTP routes call: each opens its own unit of work in its
order's scope. ``change_status`` and ``decide`` are the steps shared with the consumers, which
run them inside the consumer's unit of work.
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from decimal import Decimal

from opentelemetry import trace

from alexandrite.common import contracts
from alexandrite.common.errors import Conflict
from alexandrite.common.telemetry.business import record_status_change
from alexandrite.common.telemetry.order_context import order_scope
from alexandrite.common.unit_of_work import UnitOfWork
from alexandrite.crm.domain import AUTO_APPROVAL, ModelFacts, Pricing, ReviewStatus
from alexandrite.crm.metrics import CrmMetrics
from alexandrite.crm.schemas import ComplaintView, HistoryEntry, ReviewDetail, ReviewSummary
from alexandrite.crm.store import (
    Complaint,
    CrmUnitOfWork,
    Review,
    SqlCrmUnitOfWork,
    StatusChange,
)

__all__ = ["CrmHandlers", "change_status", "decide", "joined"]

_tracer = trace.get_tracer("alexandrite.crm")
MANAGER = "manager"


def joined(uow: UnitOfWork | CrmUnitOfWork) -> CrmUnitOfWork:
    """The CRM's view of a unit of work: a consumer's (open, with its inbox) or its own."""
    return SqlCrmUnitOfWork.joining(uow) if isinstance(uow, UnitOfWork) else uow


async def change_status(
    uow: CrmUnitOfWork, review: Review, new: ReviewStatus, reason: str | None = None
) -> None:
    """Move a review to ``new``: the row, its history (with this step's trace) and the span."""
    old = review.status
    review.status = new.value
    context = trace.get_current_span().get_span_context()
    uow.reviews.add(
        StatusChange(
            order_id=review.id,
            status=new.value,
            at=datetime.now(UTC),
            reason=reason,
            trace_id=format(context.trace_id, "032x") if context.is_valid else None,
            span_id=format(context.span_id, "016x") if context.is_valid else None,
        )
    )
    record_status_change(old, new.value)


async def decide(
    uow: CrmUnitOfWork,
    review: Review,
    outcome: ReviewStatus,
    decided_by: str,
    reason: str | None,
    price: Decimal | None = None,
) -> None:
    """Approve or reject a review in ``in_review`` and tell the MES and the Shop."""
    if review.status != ReviewStatus.IN_REVIEW:
        raise Conflict(f"order {review.id} is {review.status}, not in_review: it was decided")
    with _tracer.start_as_current_span("crm.review_decision") as span:
        # A manager's name is personal data: spans say only who decided in kind.
        span.set_attributes(
            {
                "review.decision": outcome.value,
                "review.decided_by": AUTO_APPROVAL if decided_by == AUTO_APPROVAL else MANAGER,
                "review.reason": reason or "",
            }
        )
        review.decided_by = decided_by
        review.reason = reason
        review.decided_at = datetime.now(UTC)
        if price is not None:
            review.price = price
        await change_status(uow, review, outcome, reason)
        if outcome is ReviewStatus.APPROVED:
            await uow.publish(
                contracts.OrderApproved.model_validate(
                    {
                        "order_id": review.id,
                        "price": review.price,
                        "currency": review.currency,
                        "material": review.material,
                        "quantity": review.quantity,
                        "model_id": review.model_id,
                        "model_sha256": review.model_sha256,
                        "volume_cm3": review.volume_cm3,
                    }
                )
            )
        else:
            await uow.publish(contracts.OrderRejected(order_id=review.id, reason=reason or ""))


def _facts(review: Review) -> ModelFacts | None:
    if review.watertight is None:
        return None
    return ModelFacts(
        sha256=review.model_sha256,
        triangles=review.triangles,
        volume_cm3=review.volume_cm3,
        watertight=review.watertight,
    )


class CrmHandlers:
    """What managers (and the complaint form) ask of the CRM."""

    def __init__(
        self, units_of_work: Callable[[], CrmUnitOfWork], pricing: Pricing, metrics: CrmMetrics
    ) -> None:
        self._units_of_work = units_of_work
        self._pricing = pricing
        self._metrics = metrics

    async def approve(
        self, order_id: uuid.UUID, price: Decimal | None, manager: str | None
    ) -> ReviewDetail:
        with order_scope(order_id):
            async with self._units_of_work() as uow:
                review = await uow.reviews.get(order_id, lock=True)
                if review.status != ReviewStatus.IN_REVIEW:
                    raise Conflict(
                        f"order {order_id} is {review.status}: only in_review can be approved"
                    )
                if price is None and review.price is None:
                    facts = _facts(review)
                    if facts is None:
                        raise Conflict(
                            f"no analysis of the model of order {order_id} is known: give a price"
                        )
                    # Raises why there is no quote (not watertight: 422; unknown material: 409).
                    price = self._pricing.quote(facts, review.material, review.quantity)
                await decide(uow, review, ReviewStatus.APPROVED, manager or MANAGER, None, price)
                await uow.commit()
                return await _review_detail(uow, order_id)

    async def reject(self, order_id: uuid.UUID, reason: str, manager: str | None) -> ReviewDetail:
        with order_scope(order_id):
            async with self._units_of_work() as uow:
                review = await uow.reviews.get(order_id, lock=True)
                if review.status != ReviewStatus.IN_REVIEW:
                    raise Conflict(
                        f"order {order_id} is {review.status}: only in_review can be rejected"
                    )
                await decide(uow, review, ReviewStatus.REJECTED, manager or MANAGER, reason.strip())
                await uow.commit()
                return await _review_detail(uow, order_id)

    async def review_detail(self, order_id: uuid.UUID) -> ReviewDetail:
        with order_scope(order_id):
            async with self._units_of_work() as uow:
                return await _review_detail(uow, order_id)

    async def list_reviews(self, status: ReviewStatus | None, limit: int) -> list[ReviewSummary]:
        async with self._units_of_work() as uow:
            rows = await uow.reviews.list(status.value if status is not None else None, limit)
            return [ReviewSummary.model_validate(review) for review in rows]

    async def create_complaint(self, order_id: uuid.UUID, text: str) -> ComplaintView:
        with order_scope(order_id):
            async with self._units_of_work() as uow:
                await uow.reviews.get(order_id)  # 404 when the CRM does not know it
                complaint = Complaint(id=uuid.uuid4(), order_id=order_id, text=text, status="open")
                uow.reviews.add(complaint)
                await uow.commit()
            trace.get_current_span().add_event(
                "crm.complaint_received", {"complaint.id": str(complaint.id)}
            )
            self._metrics.complaints.inc()
            return ComplaintView.model_validate(complaint)

    async def list_complaints(self, order_id: uuid.UUID | None) -> list[ComplaintView]:
        with order_scope(order_id) if order_id is not None else contextlib.nullcontext():
            async with self._units_of_work() as uow:
                rows = await uow.reviews.complaints(order_id)
                return [ComplaintView.model_validate(complaint) for complaint in rows]


async def _review_detail(uow: CrmUnitOfWork, order_id: uuid.UUID) -> ReviewDetail:
    review = await uow.reviews.get(order_id)
    history = await uow.reviews.history(order_id)
    detail = ReviewDetail.model_validate(review)
    detail.history = [HistoryEntry.model_validate(change) for change in history]
    return detail
