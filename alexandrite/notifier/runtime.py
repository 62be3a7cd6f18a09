"""What the notifier process is made of, typed: built once by ``app.py`` at start-up and handed
to the routes as FastAPI dependencies (``HandlersDep``)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends

from alexandrite.common.service_part import handlers_dependency
from alexandrite.notifier.delivery_worker import DeliveryWorker
from alexandrite.notifier.handlers import NotifierHandlers

__all__ = ["HandlersDep", "NotifierRuntime"]


@dataclass(frozen=True)
class NotifierRuntime:
    handlers: NotifierHandlers
    worker: DeliveryWorker


HandlersDep = Annotated[NotifierHandlers, Depends(handlers_dependency(NotifierRuntime))]
