"""A simulated printer fleet for demos and load: each printer takes the oldest queued job,
starts it (the same use case as ``POST /jobs/{id}/start``, so the model's sha256 is checked),
prints for a time that grows with the model's volume, then completes or fails it at random.

Printers claim jobs with ``FOR UPDATE SKIP LOCKED``, so several printers and several MES
replicas never take the same job. Everything a printer does about a job continues the trace
of the handler that queued it (its W3C context is stored on the job) with the order in baggage.

A printer renews its lease while it prints. When a process dies mid-print, the printer of the
same name (in the restarted process, or another replica) finds the lease run out and resumes the
print for the time it had left; the end of a print is retried through a database outage
(``MesHandlers.finish_print``). After an unexpected error the printer fails its job rather than
carrying on with the printer marked busy.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections import deque
from dataclasses import dataclass

from opentelemetry import trace

from alexandrite.common.errors import AppError, DependencyFailed
from alexandrite.common.faults import Faults, note_injected
from alexandrite.mes.domain import FAILURE_REASONS
from alexandrite.mes.handlers import MesHandlers, PrintTicket, in_job_trace
from alexandrite.mes.retry import is_database_outage
from alexandrite.mes.settings import Settings

__all__ = ["PrinterFleet"]

_log = logging.getLogger(__name__)
_tracer = trace.get_tracer("alexandrite.mes")
_MAX_BACKOFF_S = 10.0


@dataclass
class _Printer:
    name: str
    rng: random.Random
    ticket: PrintTicket | None = None


class PrinterFleet:
    def __init__(
        self, settings: Settings, handlers: MesHandlers, faults: Faults | None = None
    ) -> None:
        self._settings = settings
        self._faults = faults
        self._handlers = handlers
        self._printers = [
            _Printer(name, self._rng(number))
            for number, name in enumerate(settings.printer_names(), start=1)
        ]
        self._tasks: list[asyncio.Task[None]] = []
        # Idle printers waiting for their next poll, each on a bell of its own; and how many
        # jobs were announced, so that a printer whose poll missed one polls again at once.
        self._idle: deque[asyncio.Event] = deque()
        self._rings = 0

    def job_queued(self) -> None:
        """A job of this process was committed to the queue: one idle printer takes it now.

        Without this a job waited for a printer's next poll (``poll_interval_s``): half of it
        on average on every order. Jobs queued by another replica ring that replica's fleet;
        what nobody rang for (queued while no fleet ran) is found by the polls.
        """
        self._rings += 1
        while self._idle:
            bell = self._idle.popleft()
            if not bell.is_set():
                bell.set()
                return

    async def _wait_for_work(self, delay: float, rings_seen: int) -> None:
        if self._rings != rings_seen:
            return  # a job was announced while this printer looked: look again
        bell = asyncio.Event()
        self._idle.append(bell)
        try:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(bell.wait(), delay)
        finally:
            with contextlib.suppress(ValueError):
                self._idle.remove(bell)

    def _rng(self, number: int) -> random.Random:
        seed = self._settings.failure_seed
        return random.Random(seed + number) if seed is not None else random.Random()

    @property
    def printer_names(self) -> frozenset[str]:
        return frozenset(printer.name for printer in self._printers)

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
            if printer.ticket is not None:
                job_id, printer.ticket = printer.ticket.job_id, None
                try:
                    await self._handlers.fail_job(
                        job_id, "print interrupted: the printer was stopped"
                    )
                    interrupted += 1
                except AppError as exc:
                    _log.info("job %s not failed on stop: %s", job_id, exc.detail)
        return interrupted

    async def _run(self, printer: _Printer) -> None:
        poll = self._settings.poll_interval_s
        delay = poll
        while True:
            rings_seen = self._rings
            idle = False
            try:
                worked = await self._work_once(printer)
                idle = not worked
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
            except Exception as exc:
                if is_database_outage(exc):
                    # The end of the print was retried and the database is still away: the
                    # job keeps its status, its lease runs out, a later round resumes it.
                    _log.warning("%s: database unreachable: %r", printer.name, exc)
                    printer.ticket = None
                else:
                    _log.exception("%s: unexpected error", printer.name)
                    await self._give_up(printer, exc)
                worked = False
                delay = min(delay * 2, _MAX_BACKOFF_S)
            if idle:
                await self._wait_for_work(delay, rings_seen)
            elif not worked:
                # After an error: the backoff, not cut short by new jobs.
                await asyncio.sleep(delay)

    async def _give_up(self, printer: _Printer, error: Exception) -> None:
        """Fail the job the printer held, so neither it nor the printer stays in production.
        When even that fails (the database is away), its lease runs out and the print is
        resumed by this printer's next round."""
        ticket, printer.ticket = printer.ticket, None
        if ticket is None:
            return
        try:
            await self._handlers.fail_job(ticket.job_id, f"printer error: {type(error).__name__}")
        except Exception as exc:
            _log.warning("%s: job %s left to its lease (%r)", printer.name, ticket.job_id, exc)

    async def _work_once(self, printer: _Printer) -> bool:
        """Take one job (or resume one) and print it; False when there was nothing to do."""
        ticket = await self._handlers.next_print(printer.name)
        if ticket is None:
            return False
        printer.ticket = ticket
        with in_job_trace(ticket.trace_headers, ticket.order_id):
            await self._print(printer, ticket)
        printer.ticket = None
        return True

    def _failure_rate(self) -> float:
        """The configured rate, unless the mes_failure_rate fault overrides it now."""
        injected = self._faults.mes_failure_rate if self._faults is not None else None
        if injected is None:
            return self._settings.failure_rate
        note_injected("mes_failure_rate", injected)
        return injected

    async def _print(self, printer: _Printer, ticket: PrintTicket) -> None:
        failure: str | None = None
        with _tracer.start_as_current_span(
            "mes.print",
            attributes={
                "printer": printer.name,
                "job.id": str(ticket.job_id),
                "print.duration_s": ticket.duration_s,
                "print.resumed": ticket.resumed,
                "model.volume_cm3": ticket.volume_cm3 or 0.0,
            },
        ) as span:
            async with self._handlers.lease(printer.name, ticket.job_id):
                await asyncio.sleep(ticket.duration_s)
            if printer.rng.random() < self._failure_rate():
                failure = printer.rng.choice(FAILURE_REASONS)
                span.set_status(trace.StatusCode.ERROR, failure)
        await self._handlers.finish_print(ticket.job_id, failure)
