"""``AnalysisPool``: runs ``analyse_model`` in worker processes, with a timeout, off the loop.

trimesh holds the GIL for most of an analysis, so threads would stall the event loop and every
other request with it: the work goes to a ``ProcessPoolExecutor``. Its workers come from a
``forkserver`` that has imported trimesh once (fast to start, and never a ``fork`` of this
process, whose threads — the OpenTelemetry exporter, database pool — a fork would copy mid-lock).

A running job cannot be cancelled in a process pool. When one overruns the timeout, or a worker
dies (killed for memory), the whole pool is replaced and its processes terminated, so a runaway
analysis never keeps a core busy after its request has been answered.
"""

from __future__ import annotations

import asyncio
import logging
import multiprocessing
import time
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path

from alexandrite.files.analysis import ModelAnalysis, analyse_model
from alexandrite.files.errors import AnalysisTimedOut, AnalysisWorkerFailed
from alexandrite.files.formats import ModelFormat

__all__ = ["AnalysisPool"]

_log = logging.getLogger(__name__)
_PRELOAD = ["alexandrite.files.analysis"]


def _ready() -> bool:
    return True


class AnalysisPool:
    def __init__(self, workers: int, timeout_s: float) -> None:
        self.workers = workers
        self.timeout_s = timeout_s
        context = multiprocessing.get_context("forkserver")
        context.set_forkserver_preload(_PRELOAD)
        self._context = context
        self._executor = self._new_executor()

    def _new_executor(self) -> ProcessPoolExecutor:
        return ProcessPoolExecutor(max_workers=self.workers, mp_context=self._context)

    async def start(self) -> None:
        """Start the workers now (trimesh imported), so the first upload does not pay for it."""
        loop = asyncio.get_running_loop()
        jobs = [loop.run_in_executor(self._executor, _ready) for _ in range(self.workers)]
        await asyncio.wait_for(asyncio.gather(*jobs), timeout=max(self.timeout_s, 30.0))

    async def analyse(self, path: Path, fmt: ModelFormat) -> ModelAnalysis:
        """``analyse_model`` in a worker; ``InvalidModel`` from it passes through unchanged.

        ``DependencyFailed`` (503) when the analysis overruns the timeout (waiting for a free
        worker included: under load that is the server's limit, not proof the file is bad) or
        a worker dies.
        """
        executor = self._executor
        loop = asyncio.get_running_loop()
        try:
            return await asyncio.wait_for(
                loop.run_in_executor(executor, analyse_model, path, fmt), self.timeout_s
            )
        except TimeoutError:
            self._replace(executor, "an analysis overran its timeout")
            raise AnalysisTimedOut(
                f"the model analysis did not finish within {self.timeout_s:g} s; try again later"
            ) from None
        except BrokenProcessPool as error:
            self._replace(executor, "an analysis worker died")
            raise AnalysisWorkerFailed("the model analysis worker failed; try again") from error
        except MemoryError as error:
            raise AnalysisWorkerFailed("the model analysis ran out of memory") from error

    def _replace(self, broken: ProcessPoolExecutor, why: str) -> None:
        # Several requests may see the same broken pool: only the first replaces it.
        if broken is not self._executor:
            return
        _log.warning("%s: replacing the analysis pool", why)
        self._executor = self._new_executor()
        # In a thread: joining the killed processes must not hold up the loop.
        asyncio.get_running_loop().run_in_executor(None, _terminate, broken, 0.0)

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
