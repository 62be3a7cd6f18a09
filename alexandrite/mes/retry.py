"""Retrying a write through a short database outage: bounded attempts with exponential backoff.

Only errors that say the database could not be reached (refused or dropped connections, a
server starting up or shutting down, a timeout) are retried; anything else is a bug or a
conflict and is raised at once. After the last attempt the error is raised: the caller leaves
its job recoverable (a printer's lease runs out and the job is resumed or failed later).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TypeVar

from alexandrite.common.unavailable import is_unavailable

__all__ = ["RetryPolicy", "is_database_outage", "retry_through_outage"]

# What counts as an outage is the platform's one definition (the same errors answer 503).
is_database_outage = is_unavailable

_log = logging.getLogger(__name__)

T = TypeVar("T")


@dataclass(frozen=True)
class RetryPolicy:
    attempts: int = 8
    first_delay_s: float = 0.25
    max_delay_s: float = 5.0

    def delays(self) -> list[float]:
        """The waits between attempts: doubling from the first, capped."""
        return [
            min(self.first_delay_s * 2**number, self.max_delay_s)
            for number in range(max(self.attempts - 1, 0))
        ]


async def retry_through_outage(
    action: Callable[[], Awaitable[T]],
    policy: RetryPolicy,
    what: str,
    on_retry: Callable[[], None] | None = None,
) -> T:
    """``action()`` until it succeeds or fails for another reason than an outage."""
    delays = policy.delays()
    for attempt in range(len(delays) + 1):
        try:
            return await action()
        except Exception as error:
            if attempt == len(delays) or not is_database_outage(error):
                raise
            _log.warning(
                "%s: the database is unreachable (%r); attempt %d of %d in %.2fs",
                what,
                error,
                attempt + 2,
                len(delays) + 1,
                delays[attempt],
            )
            if on_retry is not None:
                on_retry()
            await asyncio.sleep(delays[attempt])
    raise AssertionError("unreachable")  # the loop returns or raises
