"""What the file storage process is made of, typed: built once by ``app.py`` at start-up and
handed to the routes as FastAPI dependencies (``HandlersDep``)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends

from alexandrite.common.service_part import handlers_dependency
from alexandrite.files.analysis_pool import AnalysisPool
from alexandrite.files.handlers import FilesHandlers

__all__ = ["FilesRuntime", "HandlersDep"]


@dataclass(frozen=True)
class FilesRuntime:
    handlers: FilesHandlers
    analysis_pool: AnalysisPool


HandlersDep = Annotated[FilesHandlers, Depends(handlers_dependency(FilesRuntime))]
