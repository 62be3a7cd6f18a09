"""The Shop's handlers and its status follower with an in-memory unit of work and a fake file
storage (tests/unit/fake_units.py): what each use case changes, what it publishes, and that
no transaction is open while a model streams to the storage."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from decimal import Decimal
from typing import Any

import pytest
from prometheus_client import CollectorRegistry

from alexandrite.common import contracts
from alexandrite.common.errors import Conflict, InvalidInput, NotFound
from alexandrite.common.messaging.event import Event
from alexandrite.shop.consumers import follow_status
from alexandrite.shop.domain import OrderStatus
from alexandrite.shop.handlers import ShopHandlers
from alexandrite.shop.metrics import ShopMetrics
from alexandrite.shop.schemas import OrderCreate
from alexandrite.shop.settings import Settings
from tests.unit.fake_units import FakeOrders, FakeShopUnitOfWork, Ledger

MODEL_ID = uuid.uuid4()


class FakeFiles:
    """Takes the upload and says how many units of work were open while it streamed."""

    def __init__(self, ledger: Ledger) -> None:
        self._ledger = ledger
        self.open_units_seen: list[int] = []

    async def upload_stream(
        self, body: AsyncIterator[bytes], content_type: str, content_length: str | None
    ) -> dict[str, Any]:
        self.open_units_seen.append(self._ledger.open_units)
        size = sum([len(chunk) async for chunk in body])
        analysis = {"volume_cm3": 8.0, "watertight": True, "triangles": 12}
        return {
            "id": str(MODEL_ID),
            "sha256": "b" * 64,
            "size_bytes": size,
            "format": "stl",
            "analysis": analysis,
        }


class Shop:
    def __init__(self) -> None:
        self.ledger = Ledger()
        self.orders = FakeOrders()
        self.files = FakeFiles(self.ledger)
        self.handlers = ShopHandlers(
            lambda: FakeShopUnitOfWork(self.orders, self.ledger),
            Settings(),
            self.files,
            ShopMetrics(CollectorRegistry()),
        )

    async def order(self, material: str = "PLA") -> uuid.UUID:
        request = OrderCreate.model_validate(
            {
                "customer": {"name": "Ada", "email": "ada@example.org"},
                "material": material,
                "quantity": 2,
            }
        )
        return (await self.handlers.create_order(request)).id

    async def with_model(self) -> uuid.UUID:
        order_id = await self.order()
        await self.handlers.attach_model(order_id, _chunks(b"solid cube"), "model/stl", None)
        return order_id


async def _chunks(data: bytes) -> AsyncIterator[bytes]:
    yield data


async def test_an_order_starts_created_with_one_history_entry_and_no_event() -> None:
    shop = Shop()
    order = await shop.handlers.get(await shop.order())
    assert order.status == OrderStatus.CREATED
    assert [change.status for change in order.history] == [OrderStatus.CREATED]
    assert shop.ledger.published == [] and shop.ledger.commits == 1


async def test_an_unknown_material_is_refused_before_any_unit_of_work() -> None:
    shop = Shop()
    with pytest.raises(InvalidInput, match="unknown material 'gold'"):
        await shop.order(material="gold")
    assert shop.orders.rows == {} and shop.ledger.commits == 0


async def test_the_model_streams_to_the_storage_with_no_transaction_open() -> None:
    shop = Shop()
    order_id = await shop.with_model()
    assert shop.files.open_units_seen == [0]
    order = await shop.handlers.get(order_id)
    assert order.model_id == MODEL_ID
    assert order.model is not None and order.model["size_bytes"] == len(b"solid cube")


async def test_submitting_without_a_model_is_a_conflict_and_publishes_nothing() -> None:
    shop = Shop()
    order_id = await shop.order()
    with pytest.raises(Conflict, match="no model yet"):
        await shop.handlers.submit(order_id)
    assert shop.ledger.published == []
    assert (await shop.handlers.get(order_id)).status == OrderStatus.CREATED


async def test_a_submitted_order_publishes_its_customer_and_model_to_the_crm() -> None:
    shop = Shop()
    order_id = await shop.with_model()
    order = await shop.handlers.submit(order_id)
    assert order.status == OrderStatus.SUBMITTED
    (submitted,) = shop.ledger.events("order.submitted")
    assert isinstance(submitted, contracts.OrderSubmitted)
    assert submitted.order_id == order_id and submitted.model_id == MODEL_ID
    assert submitted.customer.email == "ada@example.org" and submitted.quantity == 2


async def test_cancelling_says_why_and_a_finished_order_cannot_be_cancelled() -> None:
    shop = Shop()
    order_id = await shop.order()
    order = await shop.handlers.cancel(order_id, None)
    assert order.status == OrderStatus.CANCELLED
    assert shop.ledger.events("order.cancelled") == [
        contracts.OrderCancelled(order_id=order_id, reason="cancelled by the customer")
    ]
    with pytest.raises(Conflict, match="can no longer change"):
        await shop.handlers.cancel(order_id, "twice")
    assert len(shop.ledger.events("order.cancelled")) == 1


async def test_an_unknown_order_is_not_found() -> None:
    with pytest.raises(NotFound):
        await Shop().handlers.get(uuid.uuid4())


def _news(payload: contracts.EventPayload) -> Event:
    return Event(payload.routing_key, payload.data(), "test", order_id=payload.order_id)


async def test_the_shop_follows_news_forward_keeps_a_late_quote_and_ignores_stale_news() -> None:
    shop = Shop()
    order_id = await shop.with_model()
    await shop.handlers.submit(order_id)
    job = uuid.uuid4()
    await follow_status(
        shop.orders, _news(contracts.ProductionQueued(order_id=order_id, job_id=job))
    )
    # The approval arrives after production news overtook it: its price counts, its status not.
    approved = contracts.OrderApproved(
        order_id=order_id,
        price=Decimal("12.50"),
        currency="EUR",
        material="PLA",
        quantity=2,
        model_id=MODEL_ID,
        model_sha256="b" * 64,
    )
    await follow_status(shop.orders, _news(approved))
    order = await shop.handlers.get(order_id)
    assert order.status == OrderStatus.QUEUED and order.price == Decimal("12.50")
    assert [change.status for change in order.history] == [
        OrderStatus.CREATED,
        OrderStatus.SUBMITTED,
        OrderStatus.QUEUED,
    ]


async def test_a_failed_print_ends_the_order_with_the_mes_reason() -> None:
    shop = Shop()
    order_id = await shop.order()
    failed = contracts.ProductionFailed(order_id=order_id, job_id=uuid.uuid4(), reason="jam")
    await follow_status(shop.orders, _news(failed))
    order = await shop.handlers.get(order_id)
    assert order.status == OrderStatus.FAILED and order.reason == "jam"
    assert await shop.handlers.list(OrderStatus.FAILED, limit=10) == [order]
