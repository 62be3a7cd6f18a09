"""The Shop's tables (orders, their status history, the outbox and inbox) and the orders'
repository, the only way the use cases reach them (``uow.orders``)."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from decimal import Decimal
from typing import Protocol

from sqlalchemy import DateTime, ForeignKey, Integer, Numeric, String, Text, func, select
from sqlalchemy.dialects.postgresql import JSONB, UUID
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from alexandrite.common.errors import NotFound
from alexandrite.common.messaging.tables import messaging_tables
from alexandrite.common.repository_unit_of_work import EventUnitOfWork, RepositoryUnitOfWork

__all__ = [
    "Base",
    "Order",
    "OrderRepository",
    "ShopUnitOfWork",
    "SqlOrderRepository",
    "SqlShopUnitOfWork",
    "StatusChange",
    "get_order",
    "tables",
]


class Base(DeclarativeBase):
    """This service's own metadata: its own database."""


class Order(Base):
    __tablename__ = "orders"

    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True)
    status: Mapped[str] = mapped_column(String(20), index=True)
    material: Mapped[str] = mapped_column(String(20))
    quantity: Mapped[int] = mapped_column(Integer)
    notes: Mapped[str | None] = mapped_column(Text)
    # Personal data stays in this database; it never becomes a span attribute.
    customer_name: Mapped[str] = mapped_column(String(200))
    customer_email: Mapped[str] = mapped_column(String(320))
    customer_phone: Mapped[str | None] = mapped_column(String(50))
    model_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    model: Mapped[dict[str, object] | None] = mapped_column(JSONB)
    price: Mapped[Decimal | None] = mapped_column(Numeric(12, 2))
    currency: Mapped[str] = mapped_column(String(3), default="EUR")
    reason: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    updated_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now(), onupdate=func.now()
    )
    history: Mapped[list[StatusChange]] = relationship(
        order_by="StatusChange.at", lazy="selectin", cascade="all, delete-orphan"
    )


class StatusChange(Base):
    __tablename__ = "order_status_history"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    order_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), ForeignKey("orders.id", ondelete="CASCADE"), index=True
    )
    status: Mapped[str] = mapped_column(String(20))
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    reason: Mapped[str | None] = mapped_column(Text)
    # The trace of the step that caused the change: the lifecycle span links to each of them.
    trace_id: Mapped[str | None] = mapped_column(String(32))
    span_id: Mapped[str | None] = mapped_column(String(16))


tables = messaging_tables(Base.metadata)


async def get_order(session: AsyncSession, order_id: uuid.UUID, lock: bool = False) -> Order:
    query = select(Order).where(Order.id == order_id)
    if lock:
        query = query.with_for_update()
    order = (await session.execute(query)).scalar_one_or_none()
    if order is None:
        raise NotFound(f"order {order_id} does not exist")
    return order


class OrderRepository(Protocol):
    """The orders, as the use cases read and change them inside one unit of work."""

    async def get(self, order_id: uuid.UUID, lock: bool = False) -> Order:
        """The order (NotFound when there is none); ``lock`` holds its row until the end."""
        ...

    def add(self, order: Order) -> None: ...

    async def list(
        self, status: str | None, limit: int, oldest_first: bool = False
    ) -> Sequence[Order]:
        """Newest first, or (``oldest_first``) the longest unchanged first."""
        ...


class SqlOrderRepository:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def get(self, order_id: uuid.UUID, lock: bool = False) -> Order:
        return await get_order(self._session, order_id, lock)

    def add(self, order: Order) -> None:
        self._session.add(order)

    async def list(
        self, status: str | None, limit: int, oldest_first: bool = False
    ) -> Sequence[Order]:
        # updated_at moves with every status change: oldest first = stuck longest first.
        order = Order.updated_at.asc() if oldest_first else Order.created_at.desc()
        query = select(Order).order_by(order).limit(limit)
        if status is not None:
            query = query.where(Order.status == status)
        return list((await self._session.execute(query)).scalars())


class ShopUnitOfWork(EventUnitOfWork, Protocol):
    @property
    def orders(self) -> OrderRepository: ...


class SqlShopUnitOfWork(RepositoryUnitOfWork[SqlOrderRepository]):
    def _repository(self, session: AsyncSession) -> SqlOrderRepository:
        return SqlOrderRepository(session)

    @property
    def orders(self) -> SqlOrderRepository:
        return self.repository
