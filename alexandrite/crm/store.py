"""The CRM's tables (customers, reviews, their status history, complaints, outbox and inbox)
and the reviews' repository, the only way the use cases reach them (``uow.reviews``)."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from decimal import Decimal
from typing import Protocol

from sqlalchemy import (
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Integer,
    Numeric,
    String,
    Text,
    func,
    select,
)
from sqlalchemy.dialects.postgresql import UUID
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from alexandrite.common.contracts import SubmittedCustomer
from alexandrite.common.errors import NotFound
from alexandrite.common.messaging.tables import messaging_tables
from alexandrite.common.order_status import OrderStatus
from alexandrite.common.repository_unit_of_work import EventUnitOfWork, RepositoryUnitOfWork

__all__ = [
    "Base",
    "Complaint",
    "CrmUnitOfWork",
    "Customer",
    "Review",
    "ReviewRepository",
    "SqlCrmUnitOfWork",
    "SqlReviewRepository",
    "StatusChange",
    "find_review",
    "get_review",
    "tables",
]


class Base(DeclarativeBase):
    """The CRM database's own registry and metadata.

    Not a subclass of ``common.db.ModelBase``: subclasses of one DeclarativeBase share its
    registry and MetaData, so every service's ``outbox`` (and same-named classes such as
    ``StatusChange``) would collide once two services are imported in one process.
    """


class Customer(Base):
    """Personal data lives here and only here: never in span attributes, events or logs."""

    __tablename__ = "customers"
    # Server-made values (timestamps) come back with RETURNING, not as a lazy load later.
    __mapper_args__ = {"eager_defaults": True}

    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    email: Mapped[str] = mapped_column(String(320), unique=True)
    phone: Mapped[str | None] = mapped_column(String(50))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    updated_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now(), onupdate=func.now()
    )


class Review(Base):
    """One submitted order as the CRM knows it; the primary key is the Shop's order id."""

    __tablename__ = "reviews"
    __mapper_args__ = {"eager_defaults": True}

    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True)
    customer_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), ForeignKey("customers.id"), index=True
    )
    status: Mapped[str] = mapped_column(String(20), index=True)
    material: Mapped[str] = mapped_column(String(20))
    quantity: Mapped[int] = mapped_column(Integer)
    notes: Mapped[str | None] = mapped_column(Text)
    model_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    model_sha256: Mapped[str | None] = mapped_column(String(64))
    volume_cm3: Mapped[float | None] = mapped_column(Float)
    triangles: Mapped[int | None] = mapped_column(Integer)
    watertight: Mapped[bool | None] = mapped_column(Boolean)
    # The computed quote, or the manager's price once approved; None while nothing applies.
    price: Mapped[Decimal | None] = mapped_column(Numeric(12, 2))
    currency: Mapped[str] = mapped_column(String(3))
    decided_by: Mapped[str | None] = mapped_column(String(200))
    reason: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    decided_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    updated_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now(), onupdate=func.now()
    )


class StatusChange(Base):
    """Every status a review took, with the trace of the step that caused it.

    No foreign key: a cancellation can arrive before the submission it follows (messages are
    not ordered across retries), and its row is what makes the late submission end cancelled.
    """

    __tablename__ = "review_status_history"
    __mapper_args__ = {"eager_defaults": True}

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    order_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), index=True)
    status: Mapped[str] = mapped_column(String(20))
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    reason: Mapped[str | None] = mapped_column(Text)
    trace_id: Mapped[str | None] = mapped_column(String(32))
    span_id: Mapped[str | None] = mapped_column(String(16))


class Complaint(Base):
    __tablename__ = "complaints"
    __mapper_args__ = {"eager_defaults": True}

    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True)
    # No foreign key: complaints outlive whatever happens to the review rows.
    order_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), index=True)
    text: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(20), default="open")
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


tables = messaging_tables(Base.metadata)


async def find_review(
    session: AsyncSession, order_id: uuid.UUID, lock: bool = False
) -> Review | None:
    query = select(Review).where(Review.id == order_id)
    if lock:
        query = query.with_for_update()
    return (await session.execute(query)).scalar_one_or_none()


async def get_review(session: AsyncSession, order_id: uuid.UUID, lock: bool = False) -> Review:
    review = await find_review(session, order_id, lock)
    if review is None:
        raise NotFound(f"the CRM has no order {order_id}")
    return review


class ReviewRepository(Protocol):
    """The reviews, their history, complaints and customers, inside one unit of work."""

    async def find(self, order_id: uuid.UUID, lock: bool = False) -> Review | None:
        """The order's review, None when the CRM has none; ``lock`` holds its row."""
        ...

    async def get(self, order_id: uuid.UUID, lock: bool = False) -> Review:
        """The order's review (NotFound when there is none)."""
        ...

    def add(self, row: Review | StatusChange | Complaint) -> None: ...

    async def history(self, order_id: uuid.UUID) -> Sequence[StatusChange]:
        """The order's status changes, oldest first."""
        ...

    async def list(self, status: str | None, limit: int) -> Sequence[Review]:
        """Newest first."""
        ...

    async def complaints(self, order_id: uuid.UUID | None) -> Sequence[Complaint]:
        """Oldest first, of one order or of all."""
        ...

    async def was_cancelled(self, order_id: uuid.UUID) -> bool:
        """A cancellation that overtook the submission left a history row without a review."""
        ...

    async def keep_customer(self, customer: SubmittedCustomer) -> uuid.UUID:
        """The customer's id, by e-mail address: a new row or the known one brought up to date."""
        ...


class SqlReviewRepository:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def find(self, order_id: uuid.UUID, lock: bool = False) -> Review | None:
        return await find_review(self._session, order_id, lock)

    async def get(self, order_id: uuid.UUID, lock: bool = False) -> Review:
        return await get_review(self._session, order_id, lock)

    def add(self, row: Review | StatusChange | Complaint) -> None:
        self._session.add(row)

    async def history(self, order_id: uuid.UUID) -> Sequence[StatusChange]:
        query = (
            select(StatusChange)
            .where(StatusChange.order_id == order_id)
            .order_by(StatusChange.at, StatusChange.id)
        )
        return list((await self._session.execute(query)).scalars())

    async def list(self, status: str | None, limit: int) -> Sequence[Review]:
        query = select(Review).order_by(Review.created_at.desc(), Review.id).limit(limit)
        if status is not None:
            query = query.where(Review.status == status)
        return list((await self._session.execute(query)).scalars())

    async def complaints(self, order_id: uuid.UUID | None) -> Sequence[Complaint]:
        query = select(Complaint).order_by(Complaint.created_at, Complaint.id)
        if order_id is not None:
            query = query.where(Complaint.order_id == order_id)
        return list((await self._session.execute(query)).scalars())

    async def was_cancelled(self, order_id: uuid.UUID) -> bool:
        query = select(StatusChange.id).where(
            StatusChange.order_id == order_id, StatusChange.status == OrderStatus.CANCELLED.value
        )
        return (await self._session.execute(query.limit(1))).first() is not None

    async def keep_customer(self, customer: SubmittedCustomer) -> uuid.UUID:
        email = str(customer.email).lower()
        statement = (
            pg_insert(Customer)
            .values(id=uuid.uuid4(), name=customer.name, email=email, phone=customer.phone)
            .on_conflict_do_update(
                index_elements=[Customer.email],
                set_={"name": customer.name, "phone": customer.phone, "updated_at": func.now()},
            )
            .returning(Customer.id)
        )
        customer_id: uuid.UUID = (await self._session.execute(statement)).scalar_one()
        return customer_id


class CrmUnitOfWork(EventUnitOfWork, Protocol):
    @property
    def reviews(self) -> ReviewRepository: ...


class SqlCrmUnitOfWork(RepositoryUnitOfWork[SqlReviewRepository]):
    def _repository(self, session: AsyncSession) -> SqlReviewRepository:
        return SqlReviewRepository(session)

    @property
    def reviews(self) -> SqlReviewRepository:
        return self.repository
