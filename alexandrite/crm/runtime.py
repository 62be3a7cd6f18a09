"""What the CRM process is made of, typed: built once by ``app.py`` at start-up and handed to
the routes as FastAPI dependencies (``HandlersDep``)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends

from alexandrite.common.service_part import handlers_dependency
from alexandrite.crm.handlers import CrmHandlers

__all__ = ["CrmRuntime", "HandlersDep"]


@dataclass(frozen=True)
class CrmRuntime:
    handlers: CrmHandlers


HandlersDep = Annotated[CrmHandlers, Depends(handlers_dependency(CrmRuntime))]
