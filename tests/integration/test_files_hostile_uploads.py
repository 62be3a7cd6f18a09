"""Hostile uploads to the real file storage (uvicorn, real PostgreSQL), its workers measured.

The face-bomb OBJ (3 vertices, 7.9 million ``f 1 2 3`` lines, 63 MB: under the upload limit)
and a 3MF zip bomb (3 MB that expand to 512 MiB) are refused 422 within seconds while the
resident memory of the analysis workers stays bounded, and a cube sent meanwhile is analysed.
Before the limits, the OBJ was accepted with 7.9 million triangles and took gigabytes.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import psutil
import pytest
import pytest_asyncio

from alexandrite.common import platform
from alexandrite.common.settings import TelemetrySettings
from alexandrite.files.app import create_app
from alexandrite.files.hostile_samples import face_bomb_obj, zip_bomb_3mf
from alexandrite.files.samples import SampleKind, sample_bytes
from alexandrite.files.settings import Settings
from alexandrite.ops.scratch_database import fresh_database
from tests.support.infra import TEST_VHOST, free_port
from tests.support.servers import serve_in_process

pytestmark = pytest.mark.integration

_MIB = 1024 * 1024
# What one worker may hold while refusing a bomb: the interpreter with trimesh (~70 MiB) and a
# few chunks of the file. Before the limits the face bomb took gigabytes.
_WORKER_RSS_BOUND = 300 * _MIB


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def files_url(tmp_path_factory) -> AsyncIterator[str]:
    settings = Settings(
        port=free_port(),
        database_url=await fresh_database("files", "hostile_test"),
        storage_dir=tmp_path_factory.mktemp("hostile-models"),
        analysis_workers=2,
        db_pool_size=4,
        amqp_url=f"amqp://guest:guest@{platform.HOST}:{platform.RABBITMQ.port}/{TEST_VHOST}",
        faults_file=tmp_path_factory.mktemp("faults") / "faults.json",
    )
    app = create_app(settings, TelemetrySettings(enabled=False))
    async with serve_in_process("file-storage", app, settings.port) as service:
        yield service.url


@pytest.fixture(scope="module")
def bombs(tmp_path_factory) -> dict[str, Path]:
    directory = tmp_path_factory.mktemp("bombs")
    return {
        "obj": face_bomb_obj(directory / "faces.obj"),
        "3mf": zip_bomb_3mf(directory / "bomb.3mf"),
    }


class _PeakWorkerMemory:
    """Samples the resident memory of this process's analysis workers (its descendants)."""

    def __init__(self) -> None:
        self.peak = 0
        self._task: asyncio.Task[None] | None = None

    async def _sample(self) -> None:
        me = psutil.Process()
        while True:
            for child in me.children(recursive=True):
                with contextlib.suppress(psutil.Error):
                    self.peak = max(self.peak, child.memory_info().rss)
            await asyncio.sleep(0.02)  # a sampling period, not a wait for a condition

    def __enter__(self) -> _PeakWorkerMemory:
        self._task = asyncio.create_task(self._sample())
        return self

    def __exit__(self, *_: object) -> None:
        assert self._task is not None
        self._task.cancel()


async def _upload(url: str, name: str, data: bytes | Path) -> httpx.Response:
    content = await asyncio.to_thread(data.read_bytes) if isinstance(data, Path) else data
    async with httpx.AsyncClient(timeout=120) as client:
        return await client.post(f"{url}/api/v1/models", files={"file": (name, content)})


@pytest.mark.parametrize(
    ("kind", "reason"),
    [
        ("obj", "triangles on 3 vertices: more than 16 per vertex"),
        ("3mf", "the 3MF expands to more than 268,435,456 bytes"),
    ],
)
async def test_a_bomb_is_refused_within_seconds_and_a_bounded_worker_memory(
    files_url, bombs, kind, reason
):
    with _PeakWorkerMemory() as memory:
        started = time.perf_counter()
        response = await _upload(files_url, f"bomb.{kind}", bombs[kind])
        elapsed = time.perf_counter() - started
    assert response.status_code == 422, response.text
    assert reason in response.json()["detail"]
    print(f"{kind} bomb refused in {elapsed:.2f} s, worker peak RSS {memory.peak / _MIB:.0f} MiB")
    assert memory.peak < _WORKER_RSS_BOUND, f"a worker reached {memory.peak / _MIB:.0f} MiB"
    # The 63 MB upload itself takes a moment on a shared machine; the analysis is the rest.
    assert elapsed < 20


async def test_three_face_bombs_at_once_leave_a_cube_analysed_meanwhile(files_url, bombs):
    with _PeakWorkerMemory() as memory:
        bombs_sent = [
            asyncio.create_task(_upload(files_url, "bomb.obj", bombs["obj"])) for _ in range(3)
        ]
        started = time.perf_counter()
        cube = await _upload(files_url, "cube.stl", sample_bytes(SampleKind.CUBE_STL))
        cube_s = time.perf_counter() - started
        refused = await asyncio.gather(*bombs_sent)
    assert cube.status_code == 201, cube.text
    assert cube.json()["analysis"]["triangles"] == 12
    assert [r.status_code for r in refused] == [422, 422, 422]
    print(f"cube analysed in {cube_s:.2f} s beside 3 bombs, peak {memory.peak / _MIB:.0f} MiB")
    assert memory.peak < _WORKER_RSS_BOUND
    # It was 20 s before the limits; the bombs now leave the workers within a second each.
    assert cube_s < 10
