"""A simulated printer fleet for demos and load: each printer takes the oldest queued job,
starts it (the same use case as ``POST /jobs/{id}/start``, so the model's sha256 is checked),
prints for a time that grows with the model's volume, then completes or fails it at random.

Printers claim jobs with ``FOR UPDATE SKIP LOCKED``, so several printers and several MES
replicas never take the same job. Everything a printer does about a job continues the trace
of the handler that queued it (its W3C context is stored on the job) with the order in baggage.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import uuid
from dataclasses import dataclass

from opentelemetry import context as otel_context
from opentelemetry import propagate, trace
from opentelemetry.instrumentation.utils import suppress_instrumentation

from alexandrite.common.errors import AppError, DependencyFailed
from alexandrite.common.faults import Faults, note_injected
from alexandrite.common.telemetry.order_context import order_scope
from alexandrite.common.unit_of_work import UnitOfWorkFactory
from alexandrite.files.client import FilesClient
from alexandrite.mes import handlers, store
from alexandrite.mes.domain import FAILURE_REASONS, print_duration_s
from alexandrite.mes.settings import Settings
from alexandrite.mes.store import Job

__all__ = ["PrinterFleet"]

_log = logging.getLogger(__name__)
_tracer = trace.get_tracer("alexandrite.mes")
_MAX_BACKOFF_S = 10.0


@dataclass
class _Printer:
    name: str
    rng: random.Random
    job_id: uuid.UUID | None = None


class PrinterFleet:
    def __init__(
        self,
        settings: Settings,
        units_of_work: UnitOfWorkFactory,
        files: FilesClient,
        faults: Faults | None = None,
    ) -> None:
        self._settings = settings
        self._faults = faults
        self._units_of_work = units_of_work
        self._files = files
        self._printers = [
            _Printer(name, self._rng(number))
            for number, name in enumerate(settings.printer_names(), start=1)
        ]
        self._tasks: list[asyncio.Task[None]] = []

    def _rng(self, number: int) -> random.Random:
        seed = self._settings.failure_seed
        return random.Random(seed + number) if seed is not None else random.Random()

    @property
    def printer_names(self) -> list[str]:
        return [printer.name for printer in self._printers]

    def start(self) -> None:
        self._tasks = [
            asyncio.create_task(self._run(printer), name=f"mes-{printer.name}")
            for printer in self._printers
        ]
        _log.info("simulated printer fleet started: %d printers", len(self._printers))

    async def stop(self) -> int:
        """Stop every printer; a print cut off fails its job (the order must not hang).

        Returns how many prints were cut off.
        """
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            # Python 3.11's wait_for (used by libraries below us) can swallow one cancellation
            # when its inner wait finishes at the same moment: cancel until the task is done.
            while not task.done():
                await asyncio.wait({task}, timeout=1.0)
                task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks = []
        interrupted = 0
        for printer in self._printers:
            if printer.job_id is not None:
                job_id, printer.job_id = printer.job_id, None
                try:
                    await handlers.fail_job(
                        self._units_of_work, job_id, "print interrupted: the printer was stopped"
                    )
                    interrupted += 1
                except AppError as exc:
                    _log.info("job %s not failed on stop: %s", job_id, exc.detail)
        return interrupted

    async def _run(self, printer: _Printer) -> None:
        poll = self._settings.poll_interval_s
        delay = poll
        while True:
            try:
                worked = await self._work_once(printer)
                delay = poll
            except asyncio.CancelledError:
                raise
            except DependencyFailed as exc:
                # The file storage is down: the job stays queued; back off, then retry it.
                _log.warning("%s: %s; retrying in %.1fs", printer.name, exc.detail, delay)
                worked = False
                delay = min(delay * 2, _MAX_BACKOFF_S)
            except AppError as exc:
                # Already on the job's spans (the job failed) or a lost race for a printer.
                _log.warning("%s: %s", printer.name, exc.detail)
                worked = False
            except Exception:
                _log.exception("%s: unexpected error; carrying on", printer.name)
                worked = False
            if not worked:
                await asyncio.sleep(delay)

    async def _work_once(self, printer: _Printer) -> bool:
        """Take one job and print it; False when there was nothing to do."""
        job = await self._claim_and_start(printer)
        if job is None:
            return False
        printer.job_id = job.id
        token = otel_context.attach(propagate.extract(job.trace_headers))
        try:
            with order_scope(job.order_id):
                await self._print(printer, job)
        finally:
            otel_context.detach(token)
        return True

    async def _claim_and_start(self, printer: _Printer) -> Job | None:
        async with self._units_of_work() as uow:
            # Polling an empty queue is not part of any order's story: no spans for it.
            with suppress_instrumentation():
                idle = await store.lock_idle_printer(uow.session, printer.name, skip_locked=True)
                job = await store.claim_next_queued_job(uow.session) if idle else None
            if job is None:
                return None
            token = otel_context.attach(propagate.extract(job.trace_headers))
            try:
                with order_scope(job.order_id):
                    return await handlers.start_locked_job(uow, self._files, job, printer.name)
            finally:
                otel_context.detach(token)

    def _failure_rate(self) -> float:
        """The configured rate, unless the mes_failure_rate fault overrides it now."""
        injected = self._faults.mes_failure_rate if self._faults is not None else None
        if injected is None:
            return self._settings.failure_rate
        note_injected("mes_failure_rate", injected)
        return injected

    async def _print(self, printer: _Printer, job: Job) -> None:
        settings = self._settings
        duration = print_duration_s(
            job.volume_cm3,
            job.quantity,
            settings.print_seconds_per_cm3,
            settings.print_seconds_min,
            settings.print_seconds_max,
        )
        failure: str | None = None
        with _tracer.start_as_current_span(
            "mes.print",
            attributes={
                "printer": printer.name,
                "job.id": str(job.id),
                "print.duration_s": duration,
                "model.volume_cm3": job.volume_cm3 or 0.0,
            },
        ) as span:
            await asyncio.sleep(duration)
            if printer.rng.random() < self._failure_rate():
                failure = printer.rng.choice(FAILURE_REASONS)
                span.set_status(trace.StatusCode.ERROR, failure)
        try:
            if failure is None:
                await handlers.complete_job(self._units_of_work, job.id)
            else:
                await handlers.fail_job(self._units_of_work, job.id, failure)
        except AppError as exc:
            # Typically the order was cancelled while printing: the job is over already.
            _log.info("%s: job %s not finished: %s", printer.name, job.id, exc.detail)
        printer.job_id = None
