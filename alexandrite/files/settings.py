"""File storage settings (environment prefix ``FILES_``).

The analysis limits (``FILES_MAX_TRIANGLES``, ``FILES_ANALYSIS_WORKER_MEMORY_BYTES`` …) are what
keep one hostile upload from taking the machine: see ``alexandrite.files.mesh_limits`` and
``alexandrite.files.analysis_pool``. The defaults fit any real model under the upload limit.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from alexandrite.common import platform
from alexandrite.common.paths import Paths
from alexandrite.common.settings import ServiceSettings, local_database_url
from alexandrite.files.analysis_pool import PoolBounds
from alexandrite.files.mesh_limits import MeshLimits

__all__ = ["Settings"]


def _default_storage_dir() -> Path:
    return Paths.from_env().data / "models"


class Settings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="FILES_", extra="ignore")

    service_name: str = "file-storage"
    port: int = Field(default_factory=lambda: platform.FILES.port)
    database_url: str = Field(default_factory=lambda: local_database_url("alexandrite_files"))
    storage_dir: Path = Field(default_factory=_default_storage_dir)
    max_upload_bytes: int = Field(default=64 * 1024 * 1024, ge=1)
    # Analysis is CPU-bound (trimesh): one worker process per core leaves the loop its own.
    analysis_workers: int = Field(default=2, ge=1)
    analysis_timeout_s: float = Field(default=60.0, gt=0)
    # What one model may hold, counted before trimesh builds it (422 past them).
    max_triangles: int = Field(default=MeshLimits.max_triangles, ge=1)
    max_vertices: int = Field(default=MeshLimits.max_vertices, ge=1)
    max_triangles_per_vertex: float = Field(default=MeshLimits.max_triangles_per_vertex, gt=0)
    max_3mf_uncompressed_bytes: int = Field(default=MeshLimits.max_uncompressed_bytes, ge=1)
    max_3mf_compression_ratio: float = Field(default=MeshLimits.max_compression_ratio, gt=1)
    # Each worker's address space (RLIMIT_AS), and the resident memory that retires it after a
    # job; analyses running or waiting past workers + queue limit are refused with 503.
    analysis_worker_memory_bytes: int = Field(
        default=PoolBounds.worker_memory_bytes, ge=256 * 1024 * 1024
    )
    analysis_recycle_rss_bytes: int = Field(default=PoolBounds.recycle_rss_bytes, ge=1)
    analysis_tasks_per_worker: int = Field(default=PoolBounds.tasks_per_worker, ge=1)
    analysis_queue_limit: int = Field(default=PoolBounds.queue_limit, ge=0)

    def mesh_limits(self) -> MeshLimits:
        return MeshLimits(
            max_triangles=self.max_triangles,
            max_vertices=self.max_vertices,
            max_triangles_per_vertex=self.max_triangles_per_vertex,
            max_uncompressed_bytes=self.max_3mf_uncompressed_bytes,
            max_compression_ratio=self.max_3mf_compression_ratio,
        )

    def pool_bounds(self) -> PoolBounds:
        return PoolBounds(
            worker_memory_bytes=self.analysis_worker_memory_bytes,
            recycle_rss_bytes=self.analysis_recycle_rss_bytes,
            tasks_per_worker=self.analysis_tasks_per_worker,
            queue_limit=self.analysis_queue_limit,
        )
