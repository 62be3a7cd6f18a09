"""Run one service with uvicorn (uvloop, no access log: the HTTP spans hold that)."""

from __future__ import annotations

from collections.abc import Callable

import uvicorn
from fastapi import FastAPI

from alexandrite.common.settings import ServiceSettings

__all__ = ["serve"]


def serve(create_app: Callable[[], FastAPI], settings: ServiceSettings) -> None:
    uvicorn.run(
        create_app,
        factory=True,
        host=settings.host,
        port=settings.port,
        loop="uvloop",
        http="httptools",
        log_config=None,
        access_log=False,
        timeout_graceful_shutdown=10,
    )
