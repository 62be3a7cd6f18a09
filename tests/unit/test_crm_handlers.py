"""The CRM's handlers and consumers with an in-memory unit of work (tests/unit/fake_units.py):
a submitted order opens a priced review, the policy or a manager decides it and tells the MES
and the Shop, a cancellation that overtakes the submission is remembered, complaints count."""

from __future__ import annotations

import uuid
from decimal import Decimal
from typing import Any

import pytest
from prometheus_client import CollectorRegistry

from alexandrite.common import contracts
from alexandrite.common.errors import Conflict, NotFound
from alexandrite.common.messaging.event import Event
from alexandrite.crm.consumers import on_order_cancelled, on_production_event
from alexandrite.crm.domain import Pricing, ReviewStatus
from alexandrite.crm.handlers import CrmHandlers
from alexandrite.crm.intake import ReviewPolicy, SubmittedOrderReviewer
from alexandrite.crm.metrics import CrmMetrics
from tests.unit.fake_units import FakeCrmUnitOfWork, FakeReviews, Ledger

PRICING = Pricing(rates={"PLA": Decimal("0.50")}, setup_fee=Decimal("5.00"))
SHA = "c" * 64


class FakeModels:
    async def get_model(self, model_id: uuid.UUID) -> dict[str, Any]:
        return {
            "sha256": SHA,
            "analysis": {"triangles": 12, "volume_cm3": 8.0, "watertight": True},
        }


class Crm:
    def __init__(self, auto_approve: bool = False, max_price: str | None = None) -> None:
        self.ledger = Ledger()
        self.reviews = FakeReviews()
        self.metrics = CrmMetrics(CollectorRegistry())
        self.handlers = CrmHandlers(self.unit, PRICING, self.metrics)
        policy = ReviewPolicy(
            PRICING, auto_approve, Decimal(max_price) if max_price is not None else None
        )
        self.reviewer = SubmittedOrderReviewer(policy, FakeModels())

    def unit(self) -> FakeCrmUnitOfWork:
        return FakeCrmUnitOfWork(self.reviews, self.ledger)

    async def consume(self, handler: Any, payload: contracts.EventPayload) -> None:
        """As the consumer does: in one unit of work, committed after the handler."""
        event = Event(payload.routing_key, payload.data(), "test", order_id=payload.order_id)
        async with self.unit() as uow:
            await handler(uow, event)
            await uow.commit()

    async def submit(self, email: str = "ada@example.org") -> uuid.UUID:
        order_id = uuid.uuid4()
        submitted = contracts.OrderSubmitted(
            order_id=order_id,
            material="PLA",
            quantity=2,
            customer=contracts.SubmittedCustomer(name="Ada", email=email),
            model_id=uuid.uuid4(),
        )
        await self.consume(self.reviewer, submitted)
        return order_id


async def test_a_submitted_order_opens_a_priced_review_and_tells_the_shop() -> None:
    crm = Crm()
    order_id = await crm.submit()
    detail = await crm.handlers.review_detail(order_id)
    # 8 cm³ x 0.50 x 2 + 5.00
    assert detail.status == ReviewStatus.IN_REVIEW and detail.price == Decimal("13.00")
    assert [entry.status for entry in detail.history] == [ReviewStatus.IN_REVIEW]
    assert crm.ledger.events("order.in_review") == [contracts.OrderInReview(order_id=order_id)]
    assert crm.ledger.events("order.approved") == []


async def test_one_customer_is_kept_per_email_address_whatever_its_case() -> None:
    crm = Crm()
    first = await crm.submit("ada@example.org")
    second = await crm.submit("Ada@Example.org")
    assert crm.reviews.reviews[first].customer_id == crm.reviews.reviews[second].customer_id


async def test_the_policy_approves_a_quote_within_its_limit_and_refers_one_over_it() -> None:
    crm = Crm(auto_approve=True, max_price="20.00")
    order_id = await crm.submit()
    (approved,) = crm.ledger.events("order.approved")
    assert isinstance(approved, contracts.OrderApproved)
    assert approved.order_id == order_id and approved.price == Decimal("13.00")
    assert approved.model_sha256 == SHA and approved.volume_cm3 == 8.0
    strict = Crm(auto_approve=True, max_price="10.00")
    referred = await strict.submit()
    assert strict.ledger.events("order.approved") == []
    assert (await strict.handlers.review_detail(referred)).status == ReviewStatus.IN_REVIEW


async def test_a_manager_approves_once_and_the_mes_hears_of_it_once() -> None:
    crm = Crm()
    order_id = await crm.submit()
    detail = await crm.handlers.approve(order_id, Decimal("99.00"), "Grace")
    assert detail.status == ReviewStatus.APPROVED and detail.price == Decimal("99.00")
    with pytest.raises(Conflict, match="only in_review can be approved"):
        await crm.handlers.approve(order_id, None, "Grace")
    assert len(crm.ledger.events("order.approved")) == 1


async def test_a_rejection_carries_the_managers_reason_trimmed() -> None:
    crm = Crm()
    order_id = await crm.submit()
    detail = await crm.handlers.reject(order_id, "  too large  ", None)
    assert detail.status == ReviewStatus.REJECTED
    assert crm.ledger.events("order.rejected") == [
        contracts.OrderRejected(order_id=order_id, reason="too large")
    ]


async def test_a_cancellation_that_overtakes_the_submission_cancels_the_late_review() -> None:
    crm = Crm()
    order_id = uuid.uuid4()
    await crm.consume(on_order_cancelled, contracts.OrderCancelled(order_id=order_id))
    submitted = contracts.OrderSubmitted(
        order_id=order_id,
        material="PLA",
        quantity=1,
        customer=contracts.SubmittedCustomer(name="Ada", email="ada@example.org"),
        model_id=uuid.uuid4(),
    )
    await crm.consume(crm.reviewer, submitted)
    assert crm.reviews.reviews[order_id].status == ReviewStatus.CANCELLED
    assert crm.ledger.published == []


async def test_production_news_moves_the_review_forward_only() -> None:
    crm = Crm()
    order_id = await crm.submit()
    await crm.handlers.approve(order_id, Decimal("20.00"), None)
    job = uuid.uuid4()
    await crm.consume(
        on_production_event, contracts.ProductionStarted(order_id=order_id, job_id=job)
    )
    await crm.consume(
        on_production_event, contracts.ProductionQueued(order_id=order_id, job_id=job)
    )
    detail = await crm.handlers.review_detail(order_id)
    assert detail.status == ReviewStatus.IN_PRODUCTION
    assert [e.status for e in detail.history][-1] == ReviewStatus.IN_PRODUCTION


async def test_a_complaint_needs_a_known_order_and_is_counted() -> None:
    crm = Crm()
    with pytest.raises(NotFound):
        await crm.handlers.create_complaint(uuid.uuid4(), "where is it?")
    order_id = await crm.submit()
    complaint = await crm.handlers.create_complaint(order_id, "where is it?")
    assert await crm.handlers.list_complaints(order_id) == [complaint]
    assert crm.metrics.complaints._value.get() == 1
