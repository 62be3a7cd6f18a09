"""The MES tables (jobs, printers, orders cancelled before their job existed) and queries."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime

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
from alexandrite.mes.domain import JobStatus, PrinterStatus

__all__ = [
    "Base",
    "CancelledOrder",
    "Job",
    "Printer",
    "claim_next_queued_job",
    "ensure_printers",
    "find_job_for_order",
    "free_printer",
    "get_job",
    "list_jobs",
    "lock_idle_printer",
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
    trace_headers: Mapped[dict[str, str]] = mapped_column(
        JSONB, server_default=text("'{}'::jsonb")
    )
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


async def get_job(session: AsyncSession, job_id: uuid.UUID, lock: bool = False) -> Job:
    query = select(Job).where(Job.id == job_id)
    if lock:
        query = query.with_for_update()
    job = (await session.execute(query)).scalar_one_or_none()
    if job is None:
        raise NotFound(f"job {job_id} does not exist")
    return job


async def find_job_for_order(
    session: AsyncSession, order_id: uuid.UUID, lock: bool = False
) -> Job | None:
    query = select(Job).where(Job.order_id == order_id)
    if lock:
        query = query.with_for_update()
    return (await session.execute(query)).scalar_one_or_none()


async def list_jobs(
    session: AsyncSession,
    status: JobStatus | None = None,
    order_id: uuid.UUID | None = None,
    limit: int = 100,
) -> Sequence[Job]:
    query = select(Job).order_by(Job.created_at.desc()).limit(limit)
    if status is not None:
        query = query.where(Job.status == status.value)
    if order_id is not None:
        query = query.where(Job.order_id == order_id)
    return (await session.execute(query)).scalars().all()


async def claim_next_queued_job(session: AsyncSession) -> Job | None:
    """Lock the oldest queued job that nobody else holds (several printers, several replicas)."""
    query = (
        select(Job)
        .where(Job.status == JobStatus.QUEUED.value)
        .order_by(Job.created_at)
        .limit(1)
        .with_for_update(skip_locked=True)
    )
    return (await session.execute(query)).scalar_one_or_none()


async def ensure_printers(session: AsyncSession, names: Sequence[str]) -> None:
    if not names:
        return
    await session.execute(
        pg_insert(Printer)
        .values([{"name": name, "status": PrinterStatus.IDLE.value} for name in names])
        .on_conflict_do_nothing(index_elements=["name"])
    )


async def lock_idle_printer(
    session: AsyncSession, name: str | None, skip_locked: bool = False
) -> Printer | None:
    """Lock the named printer, or the first idle one; None when it is busy or none is idle.

    ``InvalidInput`` for a printer name the MES does not know.
    """
    if name is not None:
        query = select(Printer).where(Printer.name == name)
        query = query.with_for_update(skip_locked=skip_locked)
        printer = (await session.execute(query)).scalar_one_or_none()
        if printer is None:
            if skip_locked:
                return None
            known = (await session.execute(select(Printer.name).order_by(Printer.name))).scalars()
            raise InvalidInput(f"no printer named {name!r}; known: {', '.join(known)}")
        return printer if printer.status == PrinterStatus.IDLE.value else None
    query = (
        select(Printer)
        .where(Printer.status == PrinterStatus.IDLE.value)
        .order_by(Printer.name)
        .limit(1)
        .with_for_update(skip_locked=True)
    )
    return (await session.execute(query)).scalar_one_or_none()


async def free_printer(session: AsyncSession, name: str | None, job_id: uuid.UUID) -> None:
    """Mark the printer idle if it is still working on this job."""
    if name is None:
        return
    printer = (
        await session.execute(select(Printer).where(Printer.name == name).with_for_update())
    ).scalar_one_or_none()
    if printer is not None and printer.current_job_id == job_id:
        printer.status = PrinterStatus.IDLE.value
        printer.current_job_id = None
