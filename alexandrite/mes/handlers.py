"""The MES use cases, one code path for the HTTP routes, the event consumers and the printers.

``MesHandlers`` opens its own units of work; routes and the printer fleet only call it. Each use
case runs inside ``order_scope`` of its job's order and records every status change on a
business span (``mes.job.*``) whose attributes follow DESIGN.md §3.

Starting a job never holds a row lock across network I/O: a short transaction *reserves* the
job for a printer (the job keeps status ``queued`` with its ``printer`` set, the printer is
busy under a lease), the model is fetched and verified with no transaction open, and a second
transaction moves the job to ``in_production`` (or fails it, or releases the reservation).

A printer's lease is renewed by the process printing on it. A lease that ran out means that
process is gone (killed, or cut off from the database): its printer resumes the print where the
fleet still has that printer, else ``reconcile`` fails the job ("production service restarted
mid-print") and frees the printer. The events leave through the outbox as usual.

``queue_job`` and ``cancel_job_for_order`` run in the unit of work of the event consumer (which
claims the message id in the same transaction), so they take it as an argument.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Protocol

import httpx
from opentelemetry import context as otel_context
from opentelemetry import propagate, trace
from opentelemetry.instrumentation.utils import suppress_instrumentation
from opentelemetry.trace import Link, StatusCode

from alexandrite.common import contracts
from alexandrite.common.errors import (
    AppError,
    Conflict,
    DependencyFailed,
    InvalidInput,
    InvalidModel,
    NotFound,
)
from alexandrite.common.telemetry.business import record_status_change
from alexandrite.common.telemetry.order_context import order_scope
from alexandrite.common.unit_of_work import UnitOfWork
from alexandrite.mes.domain import (
    RESTARTED_MID_PRINT,
    JobStatus,
    PrinterStatus,
    PrintTimes,
    check_transition,
    is_terminal,
    lease_expired,
)
from alexandrite.mes.metrics import MesMetrics
from alexandrite.mes.retry import RetryPolicy, retry_through_outage
from alexandrite.mes.schemas import JobView
from alexandrite.mes.store import Job, MesUnitOfWork, Printer, SqlMesUnitOfWork

__all__ = [
    "MesHandlers",
    "ModelSource",
    "PrintTicket",
    "cancel_job_for_order",
    "in_job_trace",
    "queue_job",
]

_log = logging.getLogger(__name__)
_tracer = trace.get_tracer("alexandrite.mes")


def _now() -> datetime:
    return datetime.now(UTC)


class ModelSource(Protocol):
    """Where the MES gets a job's model from (the file storage's client)."""

    async def fetch_and_verify(self, model_id: uuid.UUID, expected_sha256: str) -> int: ...


@dataclass(frozen=True)
class PrintTicket:
    """A print the fleet is to carry out: a new one, or one resumed after its process died."""

    job_id: uuid.UUID
    order_id: uuid.UUID
    printer: str
    duration_s: float
    volume_cm3: float | None
    trace_headers: dict[str, str]
    resumed: bool = False


@dataclass(frozen=True)
class _Reservation:
    job_id: uuid.UUID
    order_id: uuid.UUID
    printer: str
    model_id: uuid.UUID
    model_sha256: str
    trace_headers: dict[str, str]


class PrintFailed(Exception):
    """A print that did not produce a part: recorded on the span as its exception."""


@contextlib.contextmanager
def in_job_trace(trace_headers: dict[str, str], order_id: uuid.UUID) -> Iterator[None]:
    """Continue the trace of the step that queued the job, with its order in baggage."""
    token = otel_context.attach(propagate.extract(trace_headers))
    try:
        with order_scope(order_id):
            yield
    finally:
        otel_context.detach(token)


def _queued_trace_links(trace_headers: dict[str, str]) -> list[Link]:
    """A link to the span that queued the job, for steps started outside its trace."""
    context = trace.get_current_span(propagate.extract(trace_headers)).get_span_context()
    return [Link(context)] if context.is_valid else []


def _joined(uow: UnitOfWork | MesUnitOfWork) -> MesUnitOfWork:
    return SqlMesUnitOfWork.joining(uow) if isinstance(uow, UnitOfWork) else uow


def _release_printer(printer: Printer, job_id: uuid.UUID) -> None:
    if printer.current_job_id == job_id:
        printer.status = PrinterStatus.IDLE.value
        printer.current_job_id = None
        printer.lease_expires_at = None


async def _free_printer(uow: MesUnitOfWork, job: Job) -> None:
    """Mark the job's printer idle if it is still working on this job."""
    if job.printer is None:
        return
    try:
        printer = await uow.jobs.lock_printer(job.printer)
    except InvalidInput:
        return  # a printer since removed from the fleet: nothing to free
    if printer is not None:
        _release_printer(printer, job.id)


async def _fail(uow: MesUnitOfWork, job: Job, reason: str) -> None:
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
        await _free_printer(uow, job)
        record_status_change(old.value, JobStatus.FAILED.value)
        await uow.publish(
            contracts.ProductionFailed(
                order_id=job.order_id, job_id=job.id, printer=job.printer, reason=reason
            )
        )


async def queue_job(
    uow: UnitOfWork | MesUnitOfWork, order: contracts.OrderApproved
) -> uuid.UUID | None:
    """Create the job of an approved order (once) and announce it; None if already cancelled."""
    work = _joined(uow)
    with (
        order_scope(order.order_id),
        _tracer.start_as_current_span("mes.job.queue") as span,
    ):
        if await work.jobs.is_cancelled(order.order_id):
            span.add_event("mes.job.not_queued", {"reason": "order already cancelled"})
            _log.info("order %s was cancelled before its approval arrived", order.order_id)
            return None
        # The printers pick the job up later, outside this trace: they continue it from here.
        carrier: dict[str, str] = {}
        propagate.inject(carrier)
        job = Job(
            id=uuid.uuid4(),
            order_id=order.order_id,
            status=JobStatus.QUEUED.value,
            material=order.material,
            quantity=order.quantity,
            model_id=order.model_id,
            model_sha256=order.model_sha256,
            volume_cm3=order.volume_cm3,
            trace_headers=carrier,
        )
        if not await work.jobs.add_job(job):
            existing = await work.jobs.find_job_for_order(order.order_id)
            span.add_event("mes.job.duplicate_approval")
            return existing.id if existing is not None else None
        span.set_attribute("job.id", str(job.id))
        record_status_change("approved", JobStatus.QUEUED.value)
        await work.publish(contracts.ProductionQueued(order_id=order.order_id, job_id=job.id))
        return job.id


async def cancel_job_for_order(
    uow: UnitOfWork | MesUnitOfWork, order_id: uuid.UUID, reason: str
) -> None:
    """Cancel the order's job unless it is over; remember the order if it has no job yet."""
    work = _joined(uow)
    with order_scope(order_id):
        job = await work.jobs.find_job_for_order(order_id, lock=True)
        if job is None:
            await work.jobs.remember_cancelled(order_id, reason)
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
            await _free_printer(work, job)
            record_status_change(old.value, JobStatus.CANCELLED.value)


class MesHandlers:
    def __init__(
        self,
        units_of_work: Callable[[], MesUnitOfWork],
        files: ModelSource,
        print_times: PrintTimes,
        metrics: MesMetrics | None = None,
        lease_s: float = 10.0,
        retry: RetryPolicy | None = None,
        clock: Callable[[], datetime] = _now,
    ) -> None:
        self._units_of_work = units_of_work
        self._files = files
        self.print_times = print_times
        self._metrics = metrics
        self._lease = timedelta(seconds=lease_s)
        self._retry = retry or RetryPolicy()
        self._clock = clock

    # --- reads ---------------------------------------------------------------------------

    async def read_job(self, job_id: uuid.UUID) -> JobView:
        async with self._units_of_work() as uow:
            job = await uow.jobs.get_job(job_id)
            trace.get_current_span().set_attribute("order.id", str(job.order_id))
            # Views are built inside the unit of work: leaving it rolls back and expires rows.
            return JobView.model_validate(job)

    async def find_jobs(
        self, status: JobStatus | None, order_id: uuid.UUID | None, limit: int
    ) -> list[JobView]:
        async with self._units_of_work() as uow:
            if order_id is not None:
                trace.get_current_span().set_attribute("order.id", str(order_id))
            jobs = await uow.jobs.list_jobs(status, order_id, limit)
            return [JobView.model_validate(job) for job in jobs]

    # --- start ---------------------------------------------------------------------------

    async def start_job(self, job_id: uuid.UUID, printer_name: str | None = None) -> JobView:
        """Start a queued job on ``printer_name`` (or any idle one) once its model checks out.

        The printer is then driven from outside (its lease cleared): a restart of the MES
        does not touch the job.
        """
        reservation = await self._reserve(job_id, printer_name)
        with order_scope(reservation.order_id):
            return JobView.model_validate(await self._start_reserved(reservation, False))

    async def next_print(self, printer_name: str, resumable: bool = True) -> PrintTicket | None:
        """The fleet's printer ``printer_name`` takes work: the print its dead predecessor left
        (its lease ran out), else the oldest queued job. None when there is nothing to do."""
        async with self._units_of_work() as uow:
            # Polling an empty queue is not part of any order's story: no spans for it.
            with suppress_instrumentation():
                printer = await uow.jobs.lock_printer(printer_name, skip_locked=True)
                busy = printer is not None and printer.status == PrinterStatus.BUSY.value
                job = None if printer is None or busy else await uow.jobs.claim_next_queued_job()
            if printer is None:
                return None
            if busy:
                if not lease_expired(printer.lease_expires_at, self._clock()):
                    return None
                # Its process died mid-print (or lost the database past the lease).
                ticket = await self._recover(uow, printer, resumable)
                await uow.commit()
                return ticket
            if job is None:
                return None
            reservation = self._hold(job, printer)
            with suppress_instrumentation():
                await uow.commit()
        with in_job_trace(reservation.trace_headers, reservation.order_id):
            job = await self._start_reserved(reservation, True)
        return PrintTicket(
            job_id=job.id,
            order_id=job.order_id,
            printer=printer_name,
            duration_s=self.print_times.expected_s(job.volume_cm3, job.quantity),
            volume_cm3=job.volume_cm3,
            trace_headers=dict(job.trace_headers),
        )

    async def _reserve(self, job_id: uuid.UUID, printer_name: str | None) -> _Reservation:
        async with self._units_of_work() as uow:
            job = await uow.jobs.get_job(job_id, lock=True)
            check_transition(job.status, JobStatus.IN_PRODUCTION)
            if job.printer is not None:
                raise Conflict(f"job {job_id} is being started on {job.printer}")
            if printer_name is not None:
                printer = await uow.jobs.lock_printer(printer_name)
            else:
                printer = await uow.jobs.lock_any_idle_printer()
            if printer is None or printer.status != PrinterStatus.IDLE.value:
                raise Conflict(
                    f"printer {printer_name} is busy" if printer_name else "no printer is idle"
                )
            reservation = self._hold(job, printer)
            await uow.commit()
            return reservation

    def _hold(self, job: Job, printer: Printer) -> _Reservation:
        job.printer = printer.name
        printer.status = PrinterStatus.BUSY.value
        printer.current_job_id = job.id
        printer.lease_expires_at = self._clock() + self._lease
        return _Reservation(
            job_id=job.id,
            order_id=job.order_id,
            printer=printer.name,
            model_id=job.model_id,
            model_sha256=job.model_sha256,
            trace_headers=dict(job.trace_headers or {}),
        )

    async def _start_reserved(self, reservation: _Reservation, keep_lease: bool) -> Job:
        """Fetch and verify the model with no transaction open, then move the job.

        A model that is missing or whose sha256 differs fails the job (committed) and raises
        ``InvalidModel``; an unreachable file storage raises ``DependencyFailed`` and the job
        stays queued (its reservation released).
        """
        r = reservation
        with _tracer.start_as_current_span(
            "mes.job.start",
            links=_queued_trace_links(r.trace_headers),
            attributes={"job.id": str(r.job_id), "printer": r.printer, "model.id": str(r.model_id)},
        ) as span:
            try:
                async with self.lease(r.printer, r.job_id):
                    size = await self._files.fetch_and_verify(r.model_id, r.model_sha256)
            except (InvalidModel, NotFound) as exc:
                reason = f"model check failed: {exc.detail}"
                await self._end_reservation(r, fail_reason=reason)
                raise InvalidModel(reason, job_id=str(r.job_id)) from exc
            except AppError as exc:
                await self._end_reservation(r)
                raise DependencyFailed(f"file storage: {exc.detail}") from exc
            except httpx.HTTPError as exc:
                await self._end_reservation(r)
                raise DependencyFailed(f"file storage is unreachable: {exc!r}") from exc
            span.set_attribute("model.size_bytes", size)
            async with self._units_of_work() as uow:
                job = await uow.jobs.get_job(r.job_id, lock=True)
                if job.status != JobStatus.QUEUED.value or job.printer != r.printer:
                    raise Conflict(
                        f"job {r.job_id} became {job.status} while its model was checked",
                        job_status=job.status,
                    )
                printer = await uow.jobs.lock_printer(r.printer)
                if printer is None or printer.current_job_id != job.id:
                    raise Conflict(f"printer {r.printer} was taken from job {r.job_id}")
                job.status = JobStatus.IN_PRODUCTION.value
                job.started_at = self._clock()
                printer.lease_expires_at = self._clock() + self._lease if keep_lease else None
                record_status_change(JobStatus.QUEUED.value, JobStatus.IN_PRODUCTION.value)
                await uow.publish(
                    contracts.ProductionStarted(
                        order_id=job.order_id, job_id=job.id, printer=r.printer
                    )
                )
                await uow.commit()
                return job

    async def _end_reservation(self, r: _Reservation, fail_reason: str | None = None) -> None:
        """Give the printer back; with ``fail_reason``, fail the job too (no printer named)."""
        async with self._units_of_work() as uow:
            job = await uow.jobs.get_job(r.job_id, lock=True)
            if job.status != JobStatus.QUEUED.value or job.printer != r.printer:
                return  # cancelled meanwhile: the cancellation freed the printer
            await _free_printer(uow, job)
            job.printer = None
            if fail_reason is not None:
                await _fail(uow, job, fail_reason)
            await uow.commit()

    # --- leases and recovery ----------------------------------------------------------------

    @contextlib.asynccontextmanager
    async def lease(self, printer_name: str, job_id: uuid.UUID) -> AsyncIterator[None]:
        """Keep the printer's lease alive while the block runs (a download, a print)."""
        renewing = asyncio.create_task(self._renew(printer_name, job_id), name="mes-lease")
        try:
            yield
        finally:
            renewing.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await renewing

    async def _renew(self, printer_name: str, job_id: uuid.UUID) -> None:
        interval = self._lease.total_seconds() / 3
        while True:
            await asyncio.sleep(interval)
            try:
                with suppress_instrumentation():
                    async with self._units_of_work() as uow:
                        printer = await uow.jobs.lock_printer(printer_name, skip_locked=True)
                        if (
                            printer is not None
                            and printer.current_job_id == job_id
                            and printer.lease_expires_at is not None
                        ):
                            printer.lease_expires_at = self._clock() + self._lease
                            await uow.commit()
            except Exception as exc:
                # Not fatal: the print goes on; if the database stays away past the lease, the
                # job is recovered as if this process had died.
                _log.warning("lease of %s not renewed: %r", printer_name, exc)

    async def reconcile(self, resumable: frozenset[str] = frozenset()) -> int:
        """Recover the work of printers whose lease ran out, except those in ``resumable``
        (the fleet's own printers resume their prints). Returns how many were recovered."""
        async with self._units_of_work() as uow:
            with suppress_instrumentation():
                printers = await uow.jobs.lock_printers_with_expired_lease(self._clock())
            recovered = 0
            for printer in printers:
                if printer.name in resumable:
                    continue
                await self._recover(uow, printer, resumable=False)
                recovered += 1
            await uow.commit()
        return recovered

    async def _recover(
        self, uow: MesUnitOfWork, printer: Printer, resumable: bool
    ) -> PrintTicket | None:
        """A locked printer whose lease ran out: resume its print, fail it, or free it."""
        job: Job | None = None
        if printer.current_job_id is not None:
            # The printer is locked already: take the job only if nobody holds it (a cancel
            # locks job then printer; waiting here could deadlock with it).
            job = await uow.jobs.find_job(printer.current_job_id, skip_locked=True)
            if job is None and await uow.jobs.find_job(printer.current_job_id) is not None:
                return None  # busy right now: the next round sees it
        if job is None or job.printer != printer.name or is_terminal(job.status):
            printer.status = PrinterStatus.IDLE.value
            printer.current_job_id = None
            printer.lease_expires_at = None
            return None
        with in_job_trace(dict(job.trace_headers or {}), job.order_id):
            if job.status == JobStatus.QUEUED.value:
                # Its model was being checked when the process died: the job waits again.
                _release_printer(printer, job.id)
                job.printer = None
                self._count_recovery("released")
                _log.warning("job %s: released %s held by a dead process", job.id, printer.name)
                return None
            if not resumable:
                _log.warning("job %s on %s: %s", job.id, printer.name, RESTARTED_MID_PRINT)
                await _fail(uow, job, RESTARTED_MID_PRINT)
                self._count_recovery("failed")
                return None
            now = self._clock()
            expected = self.print_times.expected_s(job.volume_cm3, job.quantity)
            elapsed = (now - job.started_at).total_seconds() if job.started_at else 0.0
            remaining = max(expected - elapsed, 0.0)
            printer.lease_expires_at = now + self._lease
            with _tracer.start_as_current_span(
                "mes.job.resume",
                links=_queued_trace_links(dict(job.trace_headers or {})),
                attributes={
                    "job.id": str(job.id),
                    "printer": printer.name,
                    "print.remaining_s": remaining,
                },
            ):
                _log.warning(
                    "job %s: resuming the print on %s (%.1fs left)", job.id, printer.name, remaining
                )
            self._count_recovery("resumed")
            return PrintTicket(
                job_id=job.id,
                order_id=job.order_id,
                printer=printer.name,
                duration_s=remaining,
                volume_cm3=job.volume_cm3,
                trace_headers=dict(job.trace_headers or {}),
                resumed=True,
            )

    def _count_recovery(self, outcome: str) -> None:
        if self._metrics is not None:
            self._metrics.recovered.labels(outcome).inc()

    # --- complete and fail ------------------------------------------------------------------

    async def complete_job(self, job_id: uuid.UUID) -> JobView:
        async with self._units_of_work() as uow:
            job = await uow.jobs.get_job(job_id, lock=True)
            with order_scope(job.order_id):
                check_transition(job.status, JobStatus.COMPLETED)
                with _tracer.start_as_current_span(
                    "mes.job.complete",
                    attributes={"job.id": str(job.id), "printer": job.printer or ""},
                ):
                    job.status = JobStatus.COMPLETED.value
                    job.finished_at = self._clock()
                    await _free_printer(uow, job)
                    record_status_change(JobStatus.IN_PRODUCTION.value, JobStatus.COMPLETED.value)
                    await uow.publish(
                        contracts.ProductionCompleted(
                            order_id=job.order_id, job_id=job.id, printer=job.printer
                        )
                    )
                    await uow.commit()
                return JobView.model_validate(job)

    async def fail_job(self, job_id: uuid.UUID, reason: str) -> JobView:
        async with self._units_of_work() as uow:
            job = await uow.jobs.get_job(job_id, lock=True)
            with order_scope(job.order_id):
                await _fail(uow, job, reason)
                await uow.commit()
                return JobView.model_validate(job)

    async def finish_print(self, job_id: uuid.UUID, failure: str | None) -> None:
        """The fleet's end of a print, retried through a database outage. Past the last
        attempt the error is raised and the job stays ``in_production`` with a lease that
        runs out: it is recovered (resumed, so completed at once) like a dead process's."""

        async def finish() -> JobView:
            if failure is None:
                return await self.complete_job(job_id)
            return await self.fail_job(job_id, failure)

        def count_retry() -> None:
            if self._metrics is not None:
                self._metrics.database_retries.inc()

        try:
            await retry_through_outage(finish, self._retry, f"job {job_id}", count_retry)
        except (Conflict, NotFound) as exc:
            # Typically the order was cancelled while printing: the job is over already.
            _log.info("job %s not finished: %s", job_id, exc.detail)
