"""A background loop that runs one round of work every interval, or sooner when woken.

The shape shared by the services' workers (the MES's lease sweeper, the notifier's delivery
worker): a failed round is reported and the next one tries again, so a database away for a
moment never ends the loop; ``stop`` cancels it and waits until it has really ended.

    loop = Periodic("mes-lease-sweeper", sweeper.sweep, interval_s=10, on_error=log_it)
    loop.start(); loop.wake(); await loop.stop()
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable

__all__ = ["Periodic"]


class Periodic:
    def __init__(
        self,
        name: str,
        round_of_work: Callable[[], Awaitable[object]],
        interval_s: float,
        on_error: Callable[[Exception], None],
    ) -> None:
        self._name = name
        self._round = round_of_work
        self._interval_s = interval_s
        self._on_error = on_error
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name=self._name)

    def wake(self) -> None:
        """Run the next round now rather than at the end of the interval."""
        self._wake.set()

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is None:
            return
        # A cancel that lands just as the loop is woken can be swallowed by asyncio.wait_for
        # on Python 3.11 (as in the outbox relay): cancel until the task is really done.
        while not task.done():
            task.cancel()
            await asyncio.wait({task}, timeout=1)

    async def _run(self) -> None:
        while True:
            try:
                await self._round()
            except Exception as exc:
                self._on_error(exc)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=self._interval_s)
            self._wake.clear()
