"""In-memory units of work for the Shop's and the CRM's handlers (no database, no broker).

A fake unit of work holds one repository (dicts and lists of the services' own row objects) and
the events raised in it: they count as published only on ``commit``. Row changes are not rolled
back on an error (the handlers under test change rows only after their checks pass); the tests
say what was committed by the events and the commit count.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import UTC, datetime
from types import TracebackType
from typing import Generic, Self, TypeVar

from alexandrite.common.contracts import EventPayload, SubmittedCustomer
from alexandrite.common.errors import NotFound
from alexandrite.crm.store import Complaint, Review, StatusChange
from alexandrite.shop.store import Order

R = TypeVar("R")


class Ledger:
    """What every unit of work of one test did: how many are open, commits, events."""

    def __init__(self) -> None:
        self.open_units = 0
        self.commits = 0
        self.published: list[EventPayload] = []

    def events(self, routing_key: str) -> list[EventPayload]:
        return [payload for payload in self.published if payload.routing_key == routing_key]


class FakeUnitOfWork(Generic[R]):
    def __init__(self, repository: R, ledger: Ledger) -> None:
        self.repository = repository
        self._ledger = ledger
        self._pending: list[EventPayload] = []

    async def __aenter__(self) -> Self:
        self._ledger.open_units += 1
        self._pending = []
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._ledger.open_units -= 1
        self._pending = []  # what was not committed is gone

    async def publish(self, payload: EventPayload) -> object:
        self._pending.append(payload)
        return None

    async def commit(self) -> None:
        self._ledger.published.extend(self._pending)
        self._pending = []
        self._ledger.commits += 1


class FakeOrders:
    """The Shop's orders by id."""

    def __init__(self) -> None:
        self.rows: dict[uuid.UUID, Order] = {}

    async def get(self, order_id: uuid.UUID, lock: bool = False) -> Order:
        if order_id not in self.rows:
            raise NotFound(f"order {order_id} does not exist")
        return self.rows[order_id]

    def add(self, order: Order) -> None:
        self.rows[order.id] = order

    async def list(
        self, status: str | None, limit: int, oldest_first: bool = False
    ) -> Sequence[Order]:
        chosen = [o for o in self.rows.values() if status is None or o.status == status]
        # In memory updated_at is never set: the last history entry stands for it.
        if oldest_first:
            chosen.sort(key=lambda o: o.history[-1].at)
        else:
            chosen.sort(key=lambda o: o.created_at, reverse=True)
        return chosen[:limit]


class FakeShopUnitOfWork(FakeUnitOfWork[FakeOrders]):
    @property
    def orders(self) -> FakeOrders:
        return self.repository


class FakeReviews:
    """The CRM's reviews, status history, complaints and customers."""

    def __init__(self) -> None:
        self.reviews: dict[uuid.UUID, Review] = {}
        self.changes: list[StatusChange] = []
        self.complaint_rows: list[Complaint] = []
        self.customers: dict[str, uuid.UUID] = {}

    async def find(self, order_id: uuid.UUID, lock: bool = False) -> Review | None:
        return self.reviews.get(order_id)

    async def get(self, order_id: uuid.UUID, lock: bool = False) -> Review:
        review = await self.find(order_id)
        if review is None:
            raise NotFound(f"the CRM has no order {order_id}")
        return review

    def add(self, row: Review | StatusChange | Complaint) -> None:
        # What the database's server defaults would fill in.
        for column in ("created_at", "updated_at", "at"):
            if hasattr(row, column) and getattr(row, column) is None:
                setattr(row, column, datetime.now(UTC))
        if isinstance(row, Review):
            self.reviews[row.id] = row
        elif isinstance(row, StatusChange):
            self.changes.append(row)
        else:
            self.complaint_rows.append(row)

    async def history(self, order_id: uuid.UUID) -> Sequence[StatusChange]:
        return [change for change in self.changes if change.order_id == order_id]

    async def list(self, status: str | None, limit: int) -> Sequence[Review]:
        rows = [r for r in self.reviews.values() if status is None or r.status == status]
        return rows[::-1][:limit]

    async def complaints(self, order_id: uuid.UUID | None) -> Sequence[Complaint]:
        return [c for c in self.complaint_rows if order_id is None or c.order_id == order_id]

    async def was_cancelled(self, order_id: uuid.UUID) -> bool:
        return any(c.order_id == order_id and c.status == "cancelled" for c in self.changes)

    async def keep_customer(self, customer: SubmittedCustomer) -> uuid.UUID:
        return self.customers.setdefault(str(customer.email).lower(), uuid.uuid4())


class FakeCrmUnitOfWork(FakeUnitOfWork[FakeReviews]):
    @property
    def reviews(self) -> FakeReviews:
        return self.repository
