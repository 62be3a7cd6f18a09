"""AnalysisPool: analyses in worker processes, errors passed through, timeouts recovered from."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
import pytest_asyncio

from alexandrite.common.errors import DependencyFailed
from alexandrite.files.analysis_pool import AnalysisPool, PoolBounds
from alexandrite.files.errors import AnalysisBusy, AnalysisWorkerFailed, InvalidModel
from alexandrite.files.formats import ModelFormat
from alexandrite.files.mesh_limits import MeshLimits
from alexandrite.files.samples import SampleKind, write_sample
from tests.support.polling import eventually


@pytest_asyncio.fixture(loop_scope="session")
async def pool() -> AsyncIterator[AnalysisPool]:
    pool = AnalysisPool(workers=1, timeout_s=60)
    await pool.start()
    yield pool
    await pool.close()


async def test_an_analysis_in_a_worker_gives_the_reference_figures(pool, tmp_path):
    analysis = await pool.analyse(write_sample(SampleKind.BALL_STL, tmp_path), ModelFormat.STL)
    assert (analysis.triangles, analysis.volume_cm3) == (20480, 33.492)


async def test_a_bad_model_comes_back_from_the_worker_as_invalid_model(pool, tmp_path):
    path = write_sample(SampleKind.LYING_COUNT_STL, tmp_path)
    with pytest.raises(InvalidModel, match="declares 1000 triangles"):
        await pool.analyse(path, ModelFormat.STL)


async def test_an_analysis_past_its_timeout_fails_and_its_worker_is_stopped(pool, tmp_path):
    fine = write_sample(SampleKind.BALL_FINE_STL, tmp_path)
    old_processes = list((pool._executor._processes or {}).values())
    pool.timeout_s = 0.05
    with pytest.raises(DependencyFailed, match=r"did not finish within 0\.05 s"):
        await pool.analyse(fine, ModelFormat.STL)

    async def all_stopped() -> bool:
        return not any(process.is_alive() for process in old_processes)

    await eventually(all_stopped, timeout=10, what="the overrunning worker to be terminated")
    # A fresh pool took its place: the next analysis works.
    pool.timeout_s = 60
    cube = await pool.analyse(write_sample(SampleKind.CUBE_STL, tmp_path), ModelFormat.STL)
    assert cube.triangles == 12


async def test_a_worker_past_its_memory_cap_fails_with_503_and_the_next_job_still_works(tmp_path):
    # No mesh limits, a 400 MiB address space: the fine ball (327,680 triangles) cannot fit.
    unlimited = MeshLimits(max_triangles=10**9, max_vertices=10**9, max_triangles_per_vertex=1e9)
    pool = AnalysisPool(1, 60, unlimited, PoolBounds(worker_memory_bytes=400 * 1024**2))
    await pool.start()
    try:
        fine = write_sample(SampleKind.BALL_FINE_STL, tmp_path)
        with pytest.raises(AnalysisWorkerFailed, match="ran out of memory"):
            await pool.analyse(fine, ModelFormat.STL)
        cube = await pool.analyse(write_sample(SampleKind.CUBE_STL, tmp_path), ModelFormat.STL)
        assert cube.triangles == 12
    finally:
        await pool.close()


async def test_analyses_past_the_queue_limit_are_refused_at_once_with_a_retry_after(tmp_path):
    pool = AnalysisPool(1, 60, bounds=PoolBounds(queue_limit=1, retry_after_s=7))
    await pool.start()
    try:
        ball = write_sample(SampleKind.BALL_STL, tmp_path)
        admitted = [asyncio.create_task(pool.analyse(ball, ModelFormat.STL)) for _ in range(2)]
        # One turn of the loop: each task runs to its first wait, so both are admitted, and no
        # analysis can have come back yet (a result needs another turn). Polling instead raced
        # with two fast analyses on a loaded machine.
        await asyncio.sleep(0)
        assert pool.admitted == 2
        with pytest.raises(AnalysisBusy) as refused:
            await pool.analyse(ball, ModelFormat.STL)
        assert refused.value.retry_after_s == 7
        assert [r.triangles for r in await asyncio.gather(*admitted)] == [20480, 20480]
        assert pool.admitted == 0
    finally:
        await pool.close()


async def test_a_pool_is_replaced_after_its_share_of_jobs_so_memory_is_given_back(tmp_path):
    pool = AnalysisPool(1, 60, bounds=PoolBounds(tasks_per_worker=2))
    await pool.start()
    try:
        first = pool._executor
        cube = write_sample(SampleKind.CUBE_STL, tmp_path)
        for _ in range(2):
            await pool.analyse(cube, ModelFormat.STL)
        assert pool._executor is not first
        assert (await pool.analyse(cube, ModelFormat.STL)).triangles == 12
    finally:
        await pool.close()


async def _true(value: bool) -> bool:
    return value
