"""The MES tables (jobs, printers, orders cancelled before their job existed), the queries the
handlers make (``JobRepository``, one per open session) and the MES's unit of work around the
shared one, so the handlers speak to ``uow.jobs`` and tests can hand them a fake."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Protocol

from sqlalchemy import (
    DateTime,
    Float,
    Index,
    Integer,
    String,
    Text,
    func,
    select,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB, UUID
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from alexandrite.common.errors import InvalidInput, NotFound
from alexandrite.common.messaging.tables import messaging_tables
from alexandrite.common.repository_unit_of_work import EventUnitOfWork, RepositoryUnitOfWork
from alexandrite.mes.domain import JobStatus, PrinterStatus

__all__ = [
    "Base",
    "CancelledOrder",
    "Job",
    "JobRepository",
    "MesUnitOfWork",
    "Printer",
    "SqlJobRepository",
    "SqlMesUnitOfWork",
    "ensure_printers",
    "tables",
]


class Base(DeclarativeBase):
    """The MES database's own registry and metadata.

    Not a subclass of ``common.db.ModelBase``: subclasses of one DeclarativeBase share its
    registry and MetaData, so the services' ``outbox`` tables would collide in one process.
    """


class Job(Base):
    __tablename__ = "jobs"

    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True)
    # One job per order: a redelivered or repeated order.approved finds this and adds nothing.
    order_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), unique=True)
    status: Mapped[str] = mapped_column(String(20), index=True)
    material: Mapped[str] = mapped_column(String(20))
    quantity: Mapped[int] = mapped_column(Integer)
    model_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True))
    model_sha256: Mapped[str] = mapped_column(String(64))
    volume_cm3: Mapped[float | None] = mapped_column(Float)
    printer: Mapped[str | None] = mapped_column(String(50))
    reason: Mapped[str | None] = mapped_column(Text)
    # W3C context of the handler that queued the job: printing joins the order's trace.
    trace_headers: Mapped[dict[str, str]] = mapped_column(JSONB, server_default=text("'{}'::jsonb"))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    started_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

    __table_args__ = (
        # The printers' claim query: oldest queued job first.
        Index(
            "ix_jobs_queued_oldest",
            "created_at",
            postgresql_where=text("status = 'queued'"),
        ),
    )


class Printer(Base):
    __tablename__ = "printers"

    name: Mapped[str] = mapped_column(String(50), primary_key=True)
    status: Mapped[str] = mapped_column(String(10), default=PrinterStatus.IDLE.value)
    current_job_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    # Renewed by the process printing on it (the simulated fleet); once past, that process is
    # gone and its job is recovered. None: driven from outside (the jobs API), never expires.
    lease_expires_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    updated_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now(), onupdate=func.now()
    )


class CancelledOrder(Base):
    """An order cancelled or rejected before its job existed: a late approval makes no job.

    The Shop's cancel and the CRM's approval come from different services, so they can reach
    the MES in either order.
    """

    __tablename__ = "cancelled_orders"

    order_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True)
    reason: Mapped[str | None] = mapped_column(Text)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


tables = messaging_tables(Base.metadata)


async def ensure_printers(session: AsyncSession, names: Sequence[str]) -> None:
    if not names:
        return
    await session.execute(
        pg_insert(Printer)
        .values([{"name": name, "status": PrinterStatus.IDLE.value} for name in names])
        .on_conflict_do_nothing(index_elements=["name"])
    )


class JobRepository(Protocol):
    """What the handlers ask of the MES database, inside one unit of work."""

    async def get_job(self, job_id: uuid.UUID, lock: bool = False) -> Job: ...

    async def find_job(self, job_id: uuid.UUID, skip_locked: bool = False) -> Job | None:
        """With ``skip_locked``: locked, or None when missing or someone else holds it."""
        ...

    async def find_job_for_order(self, order_id: uuid.UUID, lock: bool = False) -> Job | None: ...

    async def add_job(self, job: Job) -> bool:
        """Insert unless the order has a job already; False then."""
        ...

    async def list_jobs(
        self, status: JobStatus | None, order_id: uuid.UUID | None, limit: int
    ) -> Sequence[Job]: ...

    async def claim_next_queued_job(self) -> Job | None:
        """Lock the oldest queued job no printer holds and nobody else has locked."""
        ...

    async def is_cancelled(self, order_id: uuid.UUID) -> bool: ...

    async def remember_cancelled(self, order_id: uuid.UUID, reason: str) -> None: ...

    async def lock_printer(self, name: str, skip_locked: bool = False) -> Printer | None:
        """Lock the named printer (None when skip_locked and someone holds it);
        ``InvalidInput`` for a name the MES does not know."""
        ...

    async def lock_any_idle_printer(self) -> Printer | None: ...

    async def lock_printers_with_expired_lease(self, now: datetime) -> Sequence[Printer]: ...


class SqlJobRepository:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def get_job(self, job_id: uuid.UUID, lock: bool = False) -> Job:
        query = select(Job).where(Job.id == job_id)
        if lock:
            query = query.with_for_update()
        job = (await self._session.execute(query)).scalar_one_or_none()
        if job is None:
            raise NotFound(f"job {job_id} does not exist")
        return job

    async def find_job(self, job_id: uuid.UUID, skip_locked: bool = False) -> Job | None:
        query = select(Job).where(Job.id == job_id)
        if skip_locked:
            query = query.with_for_update(skip_locked=True)
        return (await self._session.execute(query)).scalar_one_or_none()

    async def find_job_for_order(self, order_id: uuid.UUID, lock: bool = False) -> Job | None:
        query = select(Job).where(Job.order_id == order_id)
        if lock:
            query = query.with_for_update()
        return (await self._session.execute(query)).scalar_one_or_none()

    async def add_job(self, job: Job) -> bool:
        columns = {c.key: getattr(job, c.key) for c in Job.__table__.columns}
        values = {key: value for key, value in columns.items() if value is not None}
        inserted = await self._session.execute(
            pg_insert(Job)
            .values(**values)
            .on_conflict_do_nothing(index_elements=["order_id"])
            .returning(Job.id)
        )
        return inserted.first() is not None

    async def list_jobs(
        self, status: JobStatus | None, order_id: uuid.UUID | None, limit: int
    ) -> Sequence[Job]:
        query = select(Job).order_by(Job.created_at.desc()).limit(limit)
        if status is not None:
            query = query.where(Job.status == status.value)
        if order_id is not None:
            query = query.where(Job.order_id == order_id)
        return (await self._session.execute(query)).scalars().all()

    async def claim_next_queued_job(self) -> Job | None:
        # A queued job with a printer is held by that printer while its model is checked; the
        # holder wrote the row, so a claim waiting on it re-reads it and skips it.
        query = (
            select(Job)
            .where(Job.status == JobStatus.QUEUED.value, Job.printer.is_(None))
            .order_by(Job.created_at)
            .limit(1)
            .with_for_update(skip_locked=True)
        )
        return (await self._session.execute(query)).scalar_one_or_none()

    async def is_cancelled(self, order_id: uuid.UUID) -> bool:
        return await self._session.get(CancelledOrder, order_id) is not None

    async def remember_cancelled(self, order_id: uuid.UUID, reason: str) -> None:
        await self._session.execute(
            pg_insert(CancelledOrder)
            .values(order_id=order_id, reason=reason)
            .on_conflict_do_nothing(index_elements=["order_id"])
        )

    async def lock_printer(self, name: str, skip_locked: bool = False) -> Printer | None:
        query = select(Printer).where(Printer.name == name).with_for_update(skip_locked=skip_locked)
        printer = (await self._session.execute(query)).scalar_one_or_none()
        if printer is None and not skip_locked:
            known = (
                await self._session.execute(select(Printer.name).order_by(Printer.name))
            ).scalars()
            raise InvalidInput(f"no printer named {name!r}; known: {', '.join(known)}")
        return printer

    async def lock_any_idle_printer(self) -> Printer | None:
        query = (
            select(Printer)
            .where(Printer.status == PrinterStatus.IDLE.value)
            .order_by(Printer.name)
            .limit(1)
            .with_for_update(skip_locked=True)
        )
        return (await self._session.execute(query)).scalar_one_or_none()

    async def lock_printers_with_expired_lease(self, now: datetime) -> Sequence[Printer]:
        query = (
            select(Printer)
            .where(
                Printer.status == PrinterStatus.BUSY.value,
                Printer.lease_expires_at.is_not(None),
                Printer.lease_expires_at <= now,
            )
            .order_by(Printer.name)
            .with_for_update(skip_locked=True)
        )
        return (await self._session.execute(query)).scalars().all()


class MesUnitOfWork(EventUnitOfWork, Protocol):
    """One transaction of the MES: its queries, the events it raises, commit or roll back."""

    @property
    def jobs(self) -> JobRepository: ...


class SqlMesUnitOfWork(RepositoryUnitOfWork[SqlJobRepository]):
    """The shared unit of work (outbox, inbox, one transaction) with the MES's repository."""

    def _repository(self, session: AsyncSession) -> SqlJobRepository:
        return SqlJobRepository(session)

    @property
    def jobs(self) -> SqlJobRepository:
        return self.repository
