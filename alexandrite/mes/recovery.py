"""The sweep that recovers prints no process drives any more: at start, then every lease.

``MesHandlers.reconcile`` fails the print of a printer whose lease ran out (its process died,
or lost the database for longer than the lease) and frees the printer, unless the fleet of this
process has a printer of that name: that printer resumes the print itself.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from alexandrite.common.periodic import Periodic
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
        self._resumable = resumable
        self._loop = Periodic("mes-lease-sweeper", self.sweep, interval_s, _sweep_failed)

    async def sweep(self) -> int:
        return await self._handlers.reconcile(self._resumable())

    def start(self) -> None:
        self._loop.start()

    async def stop(self) -> None:
        await self._loop.stop()


def _sweep_failed(exc: Exception) -> None:
    # The database is away, most likely: the next sweep tries again.
    _log.warning("lease sweep failed: %r", exc)
