"""``ConsumerPauseWatch``: applies the ``consumer_paused`` fault to a service's consumer.

A background task of the service looks at the faults a few times a second and pauses or resumes
the consumer, so the fault takes effect within about a second of ``alexandrite faults set``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from alexandrite.common.faults import Faults
from alexandrite.common.messaging.consumer import EventConsumer

__all__ = ["ConsumerPauseWatch"]

_log = logging.getLogger(__name__)


class ConsumerPauseWatch:
    def __init__(
        self,
        consumer: EventConsumer,
        faults: Faults,
        service_name: str,
        interval_s: float = 0.25,
    ) -> None:
        self._consumer = consumer
        self._faults = faults
        self._service_name = service_name
        self._interval_s = interval_s
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name=f"{self._service_name}-pause-watch")

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is None:
            return
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task

    async def apply(self) -> None:
        """Pause or resume the consumer to match the faults now."""
        wanted = self._faults.consumer_paused(self._service_name)
        if wanted and (not self._consumer.paused or self._consumer.consuming):
            await self._consumer.pause()
        elif not wanted and self._consumer.paused:
            await self._consumer.resume()

    async def _run(self) -> None:
        while True:
            try:
                await self.apply()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                # The channel may be down right now: the next round tries again.
                _log.warning(
                    "could not apply consumer_paused to %s: %r", self._consumer.queue_name, exc
                )
            await asyncio.sleep(self._interval_s)
