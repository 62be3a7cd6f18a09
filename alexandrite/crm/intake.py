"""A submitted order enters the CRM: its customer is kept, its model re-read from the file
storage and priced, its review opened, and the auto-approval policy (when on) decides it."""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Protocol

from opentelemetry import trace

from alexandrite.common import contracts
from alexandrite.common.errors import NotFound
from alexandrite.common.messaging.event import Event
from alexandrite.common.telemetry.business import record_status_change
from alexandrite.common.telemetry.order_context import order_scope
from alexandrite.common.unit_of_work import UnitOfWork
from alexandrite.crm.domain import (
    AUTO_APPROVAL,
    ModelFacts,
    Pricing,
    ReviewStatus,
    UnknownMaterial,
    Unpriceable,
    auto_decision,
)
from alexandrite.crm.handlers import change_status, decide, joined
from alexandrite.crm.store import CrmUnitOfWork, Review

__all__ = [
    "ModelLookup",
    "ReviewPolicy",
    "SubmittedOrderReviewer",
]

_log = logging.getLogger(__name__)
_tracer = trace.get_tracer("alexandrite.crm")


class ModelLookup(Protocol):
    """Where the CRM re-reads a model's analysis (the file storage's ``FilesClient``)."""

    async def get_model(self, model_id: uuid.UUID) -> dict[str, Any]: ...


@dataclass
class ReviewPolicy:
    pricing: Pricing
    auto_approve: bool = False
    auto_approve_max_price: Decimal | None = None


async def _model_facts(models: ModelLookup, model_id: uuid.UUID) -> ModelFacts | None:
    """The storage's analysis; None when it has no such model. Storage down: raise (retry)."""
    try:
        return ModelFacts.from_model(await models.get_model(model_id))
    except NotFound:
        trace.get_current_span().add_event("crm.model_missing", {"model.id": str(model_id)})
        _log.warning("the file storage has no model %s", model_id)
        return None


def _quote(
    policy: ReviewPolicy, facts: ModelFacts | None, order: contracts.OrderSubmitted
) -> tuple[Decimal | None, str | None]:
    """The price, or why there is none, inside the ``crm.price_quote`` span."""
    with _tracer.start_as_current_span("crm.price_quote") as span:
        span.set_attributes({"model.id": str(order.model_id), "order.material": order.material})
        if facts is None:
            reason = f"the file storage has no model {order.model_id}"
            span.set_attribute("price.unavailable_reason", reason)
            return None, reason
        if facts.volume_cm3 is not None:
            span.set_attribute("model.volume_cm3", facts.volume_cm3)
        try:
            price = policy.pricing.quote(facts, order.material, order.quantity)
        except (Unpriceable, UnknownMaterial) as exc:
            span.set_attribute("price.unavailable_reason", exc.detail)
            return None, exc.detail
        span.set_attributes(
            {"price.amount": float(price), "price.currency": policy.pricing.currency}
        )
        return price, None


class SubmittedOrderReviewer:
    """``order.submitted``: keep the customer, open the review, quote it, maybe decide it."""

    def __init__(self, policy: ReviewPolicy, models: ModelLookup) -> None:
        self._policy = policy
        self._models = models

    async def __call__(self, uow: UnitOfWork | CrmUnitOfWork, event: Event) -> None:
        order = contracts.parse(event, contracts.OrderSubmitted)
        with order_scope(order.order_id):
            await self._review(joined(uow), order)

    async def _review(self, uow: CrmUnitOfWork, order: contracts.OrderSubmitted) -> None:
        if await uow.reviews.find(order.order_id) is not None:
            # A second submission of the same order (not a redelivery: the inbox stops those).
            _log.info("order %s is already under review; submission ignored", order.order_id)
            return
        cancelled = await uow.reviews.was_cancelled(order.order_id)
        # Asked before any write, so no row stays locked while the storage answers.
        facts = None if cancelled else await _model_facts(self._models, order.model_id)
        review = Review(
            id=order.order_id,
            customer_id=await uow.reviews.keep_customer(order.customer),
            status=ReviewStatus.SUBMITTED.value,
            material=order.material,
            quantity=order.quantity,
            notes=order.notes,
            model_id=order.model_id,
            currency=self._policy.pricing.currency,
        )
        uow.reviews.add(review)
        if cancelled:
            # The history already holds the cancellation; the review just takes its status.
            review.status = ReviewStatus.CANCELLED.value
            review.reason = "cancelled before review"
            record_status_change(ReviewStatus.SUBMITTED.value, review.status)
            return
        if facts is not None:
            review.model_sha256 = facts.sha256
            review.volume_cm3 = facts.volume_cm3
            review.triangles = facts.triangles
            review.watertight = facts.watertight
        price, unpriceable_reason = _quote(self._policy, facts, order)
        review.price = price
        await change_status(uow, review, ReviewStatus.IN_REVIEW)
        await uow.publish(contracts.OrderInReview(order_id=order.order_id))
        if not self._policy.auto_approve:
            return
        decision = auto_decision(price, unpriceable_reason, self._policy.auto_approve_max_price)
        if decision.outcome is None:
            trace.get_current_span().add_event(
                "crm.review_referred", {"review.reason": decision.reason}
            )
            return
        await decide(uow, review, decision.outcome, AUTO_APPROVAL, decision.reason)
