"""File storage settings (environment prefix ``FILES_``)."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from alexandrite.common.settings import ServiceSettings, local_database_url
from alexandrite.ops.paths import Paths

__all__ = ["Settings"]


def _default_storage_dir() -> Path:
    return Paths.from_env().data / "models"


class Settings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="FILES_", extra="ignore")

    service_name: str = "file-storage"
    port: int = 8004
    database_url: str = Field(default_factory=lambda: local_database_url("alexandrite_files"))
    storage_dir: Path = Field(default_factory=_default_storage_dir)
    max_upload_bytes: int = Field(default=64 * 1024 * 1024, ge=1)
    # Analysis is CPU-bound (trimesh): one worker process per core leaves the loop its own.
    analysis_workers: int = Field(default=2, ge=1)
    analysis_timeout_s: float = Field(default=60.0, gt=0)
