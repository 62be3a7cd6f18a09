"""The sweep that recovers prints no process drives any more: at start, then every lease.

``MesHandlers.reconcile`` fails the print of a printer whose lease ran out (its process died,
or lost the database for longer than the lease) and frees the printer, unless the fleet of this
process has a printer of that name: that printer resumes the print itself.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable

from alexandrite.mes.handlers import MesHandlers

__all__ = ["LeaseSweeper"]

_log = logging.getLogger(__name__)


class LeaseSweeper:
    def __init__(
        self,
        handlers: MesHandlers,
        interval_s: float,
        resumable: Callable[[], frozenset[str]] = frozenset,
    ) -> None:
        self._handlers = handlers
        self._interval_s = interval_s
        self._resumable = resumable
        self._task: asyncio.Task[None] | None = None

    async def sweep(self) -> int:
        return await self._handlers.reconcile(self._resumable())

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="mes-lease-sweeper")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _run(self) -> None:
        while True:
            try:
                await self.sweep()
            except Exception as exc:
                # The database is away, most likely: the next sweep tries again.
                _log.warning("lease sweep failed: %r", exc)
            await asyncio.sleep(self._interval_s)
