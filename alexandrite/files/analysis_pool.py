"""``AnalysisPool``: runs ``analyse_model`` in worker processes, bounded in memory, time and queue.

trimesh holds the GIL for most of an analysis, so threads would stall the event loop and every
other request with it: the work goes to a ``ProcessPoolExecutor``. Its workers come from a
``forkserver`` that has imported trimesh once (fast to start, and never a ``fork`` of this
process, whose threads — the OpenTelemetry exporter, database pool — a fork would copy mid-lock).

Bounds, each a setting (``alexandrite.files.settings``):

- memory: every worker runs under ``RLIMIT_AS`` (``worker_memory_bytes``), so a model that
  slips past the mesh limits fails with ``MemoryError`` in its worker instead of taking the
  machine; and a worker whose resident memory is still above ``recycle_rss_bytes`` after a job
  (the allocator keeps what a big model took) has its pool replaced, and so has a pool after
  ``tasks_per_worker`` jobs per worker, so memory is given back after a big job (the pool, not
  ``max_tasks_per_child``: Python 3.11's executor can crash its manager thread with that one);
- time: a job past ``timeout_s`` is answered 503 and its pool replaced (a running job cannot be
  cancelled in a process pool; its processes are terminated), and so is a pool whose worker died;
- queue: at most ``workers + queue_limit`` analyses are admitted at once; past that an upload is
  refused at once with 503 and ``Retry-After`` rather than waiting for its timeout.
"""

from __future__ import annotations

import asyncio
import logging
import multiprocessing
import resource
import time
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from pathlib import Path

from alexandrite.files.analysis import ModelAnalysis, analyse_model
from alexandrite.files.errors import AnalysisBusy, AnalysisTimedOut, AnalysisWorkerFailed
from alexandrite.files.formats import ModelFormat
from alexandrite.files.mesh_limits import MeshLimits

__all__ = ["AnalysisPool", "PoolBounds"]

_log = logging.getLogger(__name__)
_PRELOAD = ["alexandrite.files.analysis"]
_PAGE = resource.getpagesize()


@dataclass(frozen=True)  # no slots: the settings read the defaults off the class
class PoolBounds:
    """The pool's limits; the defaults fit a 64 MB model of ``MeshLimits``' largest size."""

    worker_memory_bytes: int = 3 * 1024**3
    recycle_rss_bytes: int = 512 * 1024**2
    tasks_per_worker: int = 200
    queue_limit: int = 8
    retry_after_s: int = 5


def _limit_memory(max_bytes: int) -> None:
    # Address space, not resident memory: the only limit Linux enforces per process without
    # cgroups. numpy's allocations fail with MemoryError past it; nothing else is touched.
    resource.setrlimit(resource.RLIMIT_AS, (max_bytes, max_bytes))


def _ready() -> bool:
    return True


def _resident_bytes() -> int:
    with open("/proc/self/statm", "rb") as statm:
        return int(statm.read().split()[1]) * _PAGE


def _analyse(path: Path, fmt: ModelFormat, limits: MeshLimits) -> tuple[ModelAnalysis, int]:
    """In the worker: the analysis, and the worker's resident memory after it."""
    try:
        return analyse_model(path, fmt, limits), _resident_bytes()
    except MemoryError:
        # Re-raised small: the original may hold a reference to the huge frame it failed in.
        raise MemoryError("the analysis went past the worker's memory limit") from None


class AnalysisPool:
    def __init__(
        self,
        workers: int,
        timeout_s: float,
        limits: MeshLimits | None = None,
        bounds: PoolBounds | None = None,
    ) -> None:
        self.workers = workers
        self.timeout_s = timeout_s
        self.limits = limits or MeshLimits()
        self.bounds = bounds or PoolBounds()
        context = multiprocessing.get_context("forkserver")
        context.set_forkserver_preload(_PRELOAD)
        self._context = context
        self._admitted = 0
        self._jobs_in_pool = 0
        self._executor = self._new_executor()

    def _new_executor(self) -> ProcessPoolExecutor:
        return ProcessPoolExecutor(
            max_workers=self.workers,
            mp_context=self._context,
            initializer=_limit_memory,
            initargs=(self.bounds.worker_memory_bytes,),
        )

    async def start(self) -> None:
        """Start the workers now (trimesh imported), so the first upload does not pay for it."""
        loop = asyncio.get_running_loop()
        jobs = [loop.run_in_executor(self._executor, _ready) for _ in range(self.workers)]
        await asyncio.wait_for(asyncio.gather(*jobs), timeout=max(self.timeout_s, 30.0))

    @property
    def admitted(self) -> int:
        """Analyses running or waiting for a worker now."""
        return self._admitted

    async def analyse(self, path: Path, fmt: ModelFormat) -> ModelAnalysis:
        """``analyse_model`` in a worker; ``InvalidModel`` from it passes through unchanged.

        ``DependencyFailed`` (503) when the queue is full (``AnalysisBusy``), when the analysis
        overruns the timeout (waiting for a free worker included: under load that is the
        server's limit, not proof the file is bad), or a worker dies or runs out of memory.
        """
        if self._admitted >= self.workers + self.bounds.queue_limit:
            raise AnalysisBusy(
                f"{self._admitted} models are being analysed or waiting; try again shortly",
                retry_after_s=self.bounds.retry_after_s,
            )
        self._admitted += 1
        try:
            return await self._run(path, fmt)
        finally:
            self._admitted -= 1

    async def _run(self, path: Path, fmt: ModelFormat) -> ModelAnalysis:
        executor = self._executor
        loop = asyncio.get_running_loop()
        try:
            analysis, resident = await asyncio.wait_for(
                loop.run_in_executor(executor, _analyse, path, fmt, self.limits), self.timeout_s
            )
        except TimeoutError:
            self._replace(executor, "an analysis overran its timeout", terminate=True)
            raise AnalysisTimedOut(
                f"the model analysis did not finish within {self.timeout_s:g} s; try again later"
            ) from None
        except BrokenProcessPool as error:
            self._replace(executor, "an analysis worker died", terminate=True)
            raise AnalysisWorkerFailed("the model analysis worker failed; try again") from error
        except MemoryError as error:
            self._replace(executor, "an analysis ran out of memory", terminate=False)
            raise AnalysisWorkerFailed(
                "the model analysis ran out of memory; the model is too large to analyse"
            ) from error
        if resident > self.bounds.recycle_rss_bytes:
            self._replace(
                executor, f"a worker kept {resident // 2**20} MiB after a job", terminate=False
            )
        elif executor is self._executor:
            self._jobs_in_pool += 1
            if self._jobs_in_pool >= self.workers * self.bounds.tasks_per_worker:
                self._replace(executor, f"{self._jobs_in_pool} jobs done", terminate=False)
        return analysis

    def _replace(self, old: ProcessPoolExecutor, why: str, *, terminate: bool) -> None:
        # Several requests may see the same pool go: only the first replaces it.
        if old is not self._executor:
            return
        _log.warning("%s: replacing the analysis pool", why)
        self._executor = self._new_executor()
        self._jobs_in_pool = 0
        loop = asyncio.get_running_loop()
        # In a thread: joining the old processes must not hold up the loop.
        if terminate:
            loop.run_in_executor(None, _terminate, old, 0.0)
        else:
            # The old pool's jobs in flight finish; then its processes exit, memory and all.
            loop.run_in_executor(None, old.shutdown, True)

    async def close(self, grace_s: float = 5.0) -> None:
        """Let running analyses finish for ``grace_s``, then terminate what is left."""
        await asyncio.to_thread(_terminate, self._executor, grace_s)


def _terminate(executor: ProcessPoolExecutor, grace_s: float = 0.0) -> None:
    # The executor has no public way to stop a running job; its processes are the only handle.
    processes = list((executor._processes or {}).values())
    executor.shutdown(wait=False, cancel_futures=True)
    deadline = time.monotonic() + grace_s
    for process in processes:
        process.join(max(0.0, deadline - time.monotonic()))
        if process.is_alive():
            process.terminate()
            process.join(1.0)
