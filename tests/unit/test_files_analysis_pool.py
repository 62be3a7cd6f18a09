"""AnalysisPool: analyses in worker processes, errors passed through, timeouts recovered from."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
import pytest_asyncio

from alexandrite.common.errors import DependencyFailed
from alexandrite.files.analysis_pool import AnalysisPool
from alexandrite.files.errors import InvalidModel
from alexandrite.files.formats import ModelFormat
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
