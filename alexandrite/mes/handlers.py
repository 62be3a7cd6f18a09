"""The MES use cases, one code path for the HTTP routes, the event consumers and the printers.

Each use case runs inside ``order_scope`` of its job's order and records every status change
on a business span (``mes.job.*``) whose attributes follow DESIGN.md §3.
"""

from __future__ import annotations

import logging
import uuid
from datetime import UTC, datetime

import httpx
from opentelemetry import propagate, trace
from opentelemetry.trace import Link, StatusCode
from sqlalchemy.dialects.postgresql import insert as pg_insert

from alexandrite.common.errors import (
    AppError,
    Conflict,
    DependencyFailed,
    InvalidModel,
    NotFound,
)
from alexandrite.common.telemetry.business import record_status_change
from alexandrite.common.telemetry.order_context import order_scope
from alexandrite.common.unit_of_work import UnitOfWork, UnitOfWorkFactory
from alexandrite.files.client import FilesClient
from alexandrite.mes import store
from alexandrite.mes.domain import JobStatus, PrinterStatus, check_transition, is_terminal
from alexandrite.mes.events import (
    PRODUCTION_COMPLETED,
    PRODUCTION_FAILED,
    PRODUCTION_QUEUED,
    PRODUCTION_STARTED,
)
from alexandrite.mes.schemas import ApprovedOrder, JobView
from alexandrite.mes.store import Job

__all__ = [
    "cancel_job_for_order",
    "complete_job",
    "fail_job",
    "find_jobs",
    "queue_job",
    "queued_trace_links",
    "read_job",
    "start_job",
    "start_locked_job",
]

_log = logging.getLogger(__name__)
_tracer = trace.get_tracer("alexandrite.mes")


def _now() -> datetime:
    return datetime.now(UTC)


def _event_data(job: Job, **extra: str | None) -> dict[str, str]:
    data = {"order_id": str(job.order_id), "job_id": str(job.id)}
    data.update({key: value for key, value in extra.items() if value is not None})
    return data


def queued_trace_links(job: Job) -> list[Link]:
    """A link to the span that queued the job, for steps started outside its trace."""
    context = trace.get_current_span(propagate.extract(job.trace_headers)).get_span_context()
    return [Link(context)] if context.is_valid else []


async def queue_job(uow: UnitOfWork, order: ApprovedOrder) -> uuid.UUID | None:
    """Create the job of an approved order (once) and announce it; None if already cancelled."""
    with (
        order_scope(order.order_id),
        _tracer.start_as_current_span("mes.job.queue") as span,
    ):
        session = uow.session
        if await session.get(store.CancelledOrder, order.order_id) is not None:
            span.add_event("mes.job.not_queued", {"reason": "order already cancelled"})
            _log.info("order %s was cancelled before its approval arrived", order.order_id)
            return None
        job_id = uuid.uuid4()
        # The printers pick the job up later, outside this trace: they continue it from here.
        carrier: dict[str, str] = {}
        propagate.inject(carrier)
        inserted = await session.execute(
            pg_insert(Job)
            .values(
                id=job_id,
                order_id=order.order_id,
                status=JobStatus.QUEUED.value,
                material=order.material,
                quantity=order.quantity,
                model_id=order.model_id,
                model_sha256=order.model_sha256,
                volume_cm3=order.volume_cm3,
                trace_headers=carrier,
            )
            .on_conflict_do_nothing(index_elements=["order_id"])
            .returning(Job.id)
        )
        if inserted.first() is None:
            existing = await store.find_job_for_order(session, order.order_id)
            span.add_event("mes.job.duplicate_approval")
            return existing.id if existing is not None else None
        span.set_attribute("job.id", str(job_id))
        record_status_change("approved", JobStatus.QUEUED.value)
        await uow.publish(
            PRODUCTION_QUEUED,
            {"order_id": str(order.order_id), "job_id": str(job_id)},
            order_id=order.order_id,
        )
        return job_id


async def cancel_job_for_order(uow: UnitOfWork, order_id: uuid.UUID, reason: str) -> None:
    """Cancel the order's job unless it is over; remember the order if it has no job yet."""
    with order_scope(order_id):
        session = uow.session
        job = await store.find_job_for_order(session, order_id, lock=True)
        if job is None:
            await session.execute(
                pg_insert(store.CancelledOrder)
                .values(order_id=order_id, reason=reason)
                .on_conflict_do_nothing(index_elements=["order_id"])
            )
            return
        if is_terminal(job.status):
            return
        old = check_transition(job.status, JobStatus.CANCELLED)
        with _tracer.start_as_current_span(
            "mes.job.cancel", attributes={"job.id": str(job.id), "printer": job.printer or ""}
        ):
            job.status = JobStatus.CANCELLED.value
            job.reason = reason
            job.finished_at = _now()
            await store.free_printer(session, job.printer, job.id)
            record_status_change(old.value, JobStatus.CANCELLED.value)


async def start_job(
    units_of_work: UnitOfWorkFactory,
    files: FilesClient,
    job_id: uuid.UUID,
    printer: str | None = None,
) -> JobView:
    """Start a queued job on ``printer`` (or any idle one) once its model checks out."""
    async with units_of_work() as uow:
        job = await store.get_job(uow.session, job_id, lock=True)
        with order_scope(job.order_id):
            return JobView.model_validate(await start_locked_job(uow, files, job, printer))


async def start_locked_job(
    uow: UnitOfWork, files: FilesClient, job: Job, printer_name: str | None
) -> Job:
    """The start itself, on a job row this unit of work holds locked; commits.

    A model that is missing or whose sha256 differs fails the job (committed) and raises
    ``InvalidModel``; an unreachable file storage raises ``DependencyFailed`` and the job
    stays queued.
    """
    check_transition(job.status, JobStatus.IN_PRODUCTION)
    printer = await store.lock_idle_printer(uow.session, printer_name)
    if printer is None:
        raise Conflict(
            f"printer {printer_name} is busy" if printer_name else "no printer is idle"
        )
    with _tracer.start_as_current_span(
        "mes.job.start",
        links=queued_trace_links(job),
        attributes={"job.id": str(job.id), "printer": printer.name, "model.id": str(job.model_id)},
    ) as span:
        try:
            size = await files.fetch_and_verify(job.model_id, job.model_sha256)
        except (InvalidModel, NotFound) as exc:
            reason = f"model check failed: {exc.detail}"
            await _fail_locked(uow, job, reason)
            await uow.commit()
            raise InvalidModel(reason, job_id=str(job.id)) from exc
        except AppError as exc:
            raise DependencyFailed(f"file storage: {exc.detail}") from exc
        except httpx.HTTPError as exc:
            raise DependencyFailed(f"file storage is unreachable: {exc!r}") from exc
        span.set_attribute("model.size_bytes", size)
        job.status = JobStatus.IN_PRODUCTION.value
        job.printer = printer.name
        job.started_at = _now()
        printer.status = PrinterStatus.BUSY.value
        printer.current_job_id = job.id
        record_status_change(JobStatus.QUEUED.value, JobStatus.IN_PRODUCTION.value)
        await uow.publish(
            PRODUCTION_STARTED, _event_data(job, printer=printer.name), order_id=job.order_id
        )
        await uow.commit()
    return job


async def complete_job(units_of_work: UnitOfWorkFactory, job_id: uuid.UUID) -> JobView:
    async with units_of_work() as uow:
        job = await store.get_job(uow.session, job_id, lock=True)
        with order_scope(job.order_id):
            check_transition(job.status, JobStatus.COMPLETED)
            with _tracer.start_as_current_span(
                "mes.job.complete",
                attributes={"job.id": str(job.id), "printer": job.printer or ""},
            ):
                job.status = JobStatus.COMPLETED.value
                job.finished_at = _now()
                await store.free_printer(uow.session, job.printer, job.id)
                record_status_change(JobStatus.IN_PRODUCTION.value, JobStatus.COMPLETED.value)
                await uow.publish(
                    PRODUCTION_COMPLETED,
                    _event_data(job, printer=job.printer),
                    order_id=job.order_id,
                )
                await uow.commit()
            return JobView.model_validate(job)


async def fail_job(units_of_work: UnitOfWorkFactory, job_id: uuid.UUID, reason: str) -> JobView:
    async with units_of_work() as uow:
        job = await store.get_job(uow.session, job_id, lock=True)
        with order_scope(job.order_id):
            await _fail_locked(uow, job, reason)
            await uow.commit()
            return JobView.model_validate(job)


class PrintFailed(Exception):
    """A print that did not produce a part: recorded on the span as its exception."""


async def _fail_locked(uow: UnitOfWork, job: Job, reason: str) -> None:
    old = check_transition(job.status, JobStatus.FAILED)
    with _tracer.start_as_current_span(
        "mes.job.fail", attributes={"job.id": str(job.id), "printer": job.printer or ""}
    ) as span:
        # A failed print is what the support engineer looks for: the span says so and why.
        span.record_exception(PrintFailed(reason))
        span.set_status(StatusCode.ERROR, reason)
        span.set_attribute("job.failure_reason", reason)
        job.status = JobStatus.FAILED.value
        job.reason = reason
        job.finished_at = _now()
        await store.free_printer(uow.session, job.printer, job.id)
        record_status_change(old.value, JobStatus.FAILED.value)
        await uow.publish(
            PRODUCTION_FAILED,
            _event_data(job, reason=reason, printer=job.printer),
            order_id=job.order_id,
        )


async def read_job(units_of_work: UnitOfWorkFactory, job_id: uuid.UUID) -> JobView:
    async with units_of_work() as uow:
        job = await store.get_job(uow.session, job_id)
        trace.get_current_span().set_attribute("order.id", str(job.order_id))
        # Views are built inside the unit of work: leaving it rolls back and expires the rows.
        return JobView.model_validate(job)


async def find_jobs(
    units_of_work: UnitOfWorkFactory,
    status: JobStatus | None,
    order_id: uuid.UUID | None,
    limit: int,
) -> list[JobView]:
    async with units_of_work() as uow:
        if order_id is not None:
            trace.get_current_span().set_attribute("order.id", str(order_id))
        jobs = await store.list_jobs(uow.session, status, order_id, limit)
        return [JobView.model_validate(job) for job in jobs]
