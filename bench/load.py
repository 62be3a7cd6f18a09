"""The load driver: asyncio + httpx in the benchmark's own process.

Why not Locust: on two cores every CPU cycle the load generator spends is taken from the
services it measures, and Locust's per-request bookkeeping, gevent workers and stats threads cost
far more than an asyncio loop that only times requests. Both sides of every comparison run under
the same driver in the same run, so what the driver does cost is paid equally by each side.

Two shapes:
- closed loop (``saturate``): ``concurrency`` workers send back to back: the throughput.
- open loop (``at_rate``): requests start on a fixed schedule whether or not earlier ones have
  answered, so a slow answer cannot hold back the next request (no coordinated omission):
  the latency a user sees at a given load.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

import httpx

from bench.stats import percentile

__all__ = ["Request", "RoundResult", "at_rate", "saturate"]

# One request: given a client and the request's sequence number, send it and raise on failure.
Request = Callable[[httpx.AsyncClient, int], Awaitable[None]]


@dataclass
class RoundResult:
    seconds: float
    latencies_s: list[float] = field(default_factory=list)
    errors: int = 0
    # Why requests failed ("503 analysis queue full", "ReadTimeout" …): a count is no diagnosis.
    failures: Counter[str] = field(default_factory=Counter)

    @property
    def throughput(self) -> float:
        return len(self.latencies_s) / self.seconds if self.seconds else 0.0

    def latency_ms(self, share: float) -> float:
        return percentile(self.latencies_s, share) * 1000


def _client(concurrency: int) -> httpx.AsyncClient:
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    return httpx.AsyncClient(timeout=30.0, limits=limits)


async def _timed(
    client: httpx.AsyncClient, request: Request, number: int, result: RoundResult
) -> None:
    started = time.perf_counter()
    try:
        await request(client, number)
    except httpx.HTTPError as error:
        result.errors += 1
        result.failures[type(error).__name__] += 1
        return
    except AssertionError as error:
        result.errors += 1
        result.failures[str(error)[:120] or "assertion"] += 1
        return
    result.latencies_s.append(time.perf_counter() - started)


async def saturate(
    request: Request, *, concurrency: int, seconds: float, warmup_s: float = 0.5
) -> RoundResult:
    """``concurrency`` workers back to back for ``seconds``, after an uncounted warm-up."""
    counter = iter(range(10**9))
    async with _client(concurrency) as client:
        warm = RoundResult(seconds=warmup_s)
        stop_at = time.perf_counter() + warmup_s

        async def worker(result: RoundResult, until: float) -> None:
            while time.perf_counter() < until:
                await _timed(client, request, next(counter), result)

        await asyncio.gather(*(worker(warm, stop_at) for _ in range(concurrency)))
        result = RoundResult(seconds=seconds)
        started = time.perf_counter()
        await asyncio.gather(*(worker(result, started + seconds) for _ in range(concurrency)))
        result.seconds = time.perf_counter() - started
        return result


async def at_rate(
    request: Request, *, rate: float, seconds: float, max_in_flight: int = 256
) -> RoundResult:
    """Start ``rate`` requests a second for ``seconds``; each is timed from its own start."""
    result = RoundResult(seconds=seconds)
    async with _client(max_in_flight) as client:
        tasks: list[asyncio.Task[None]] = []
        started = time.perf_counter()
        total = int(rate * seconds)
        for number in range(total):
            due = started + number / rate
            delay = due - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            tasks.append(asyncio.create_task(_timed(client, request, number, result)))
        await asyncio.gather(*tasks)
        result.seconds = time.perf_counter() - started
    return result
