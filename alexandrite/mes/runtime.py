"""What the MES process is made of, typed: built once by ``app.py`` at start-up and handed to
the routes as FastAPI dependencies (``HandlersDep``), so mypy sees every dependency."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends

from alexandrite.common.service_part import handlers_dependency
from alexandrite.files.client import FilesClient
from alexandrite.mes.handlers import MesHandlers
from alexandrite.mes.recovery import LeaseSweeper
from alexandrite.mes.simulator import PrinterFleet

__all__ = ["HandlersDep", "MesRuntime"]


@dataclass(frozen=True)
class MesRuntime:
    handlers: MesHandlers
    files: FilesClient
    sweeper: LeaseSweeper
    fleet: PrinterFleet | None = None


HandlersDep = Annotated[MesHandlers, Depends(handlers_dependency(MesRuntime))]
