"""What the MES process is made of, typed: built once by ``app.py`` at start-up, handed to the
routes through FastAPI dependencies (``HandlersDep``), so mypy sees every dependency."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request

from alexandrite.files.client import FilesClient
from alexandrite.mes.handlers import MesHandlers
from alexandrite.mes.recovery import LeaseSweeper
from alexandrite.mes.simulator import PrinterFleet

__all__ = ["HandlersDep", "MesRuntime", "get_handlers", "get_mes_runtime"]


@dataclass
class MesRuntime:
    handlers: MesHandlers
    files: FilesClient
    sweeper: LeaseSweeper
    fleet: PrinterFleet | None = None


def get_mes_runtime(request: Request) -> MesRuntime:
    runtime = request.app.state.mes
    if not isinstance(runtime, MesRuntime):  # only before start-up finished
        raise RuntimeError("the MES runtime is not built yet")
    return runtime


def get_handlers(request: Request) -> MesHandlers:
    return get_mes_runtime(request).handlers


HandlersDep = Annotated[MesHandlers, Depends(get_handlers)]
