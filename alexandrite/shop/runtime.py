"""What the Shop process is made of, typed: built once by ``app.py`` at start-up and handed to
the routes as FastAPI dependencies (``HandlersDep``)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends

from alexandrite.common.service_part import handlers_dependency
from alexandrite.files.client import FilesClient
from alexandrite.shop.handlers import ShopHandlers

__all__ = ["HandlersDep", "ShopRuntime"]


@dataclass(frozen=True)
class ShopRuntime:
    handlers: ShopHandlers
    files: FilesClient


HandlersDep = Annotated[ShopHandlers, Depends(handlers_dependency(ShopRuntime))]
