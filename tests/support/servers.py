"""Services run in the test's event loop by uvicorn, on free ports, over real sockets."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass

import httpx
import uvicorn
from fastapi import FastAPI

from tests.support.polling import eventually


@dataclass
class RunningService:
    name: str
    url: str
    app: FastAPI
    server: uvicorn.Server


@contextlib.asynccontextmanager
async def serve_in_process(name: str, app: FastAPI, port: int) -> AsyncIterator[RunningService]:
    config = uvicorn.Config(
        app, host="127.0.0.1", port=port, log_config=None, lifespan="on", access_log=False
    )
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve(), name=f"uvicorn-{name}")
    url = f"http://127.0.0.1:{port}"

    async def ready() -> bool:
        if task.done():
            task.result()  # surface a start-up failure
        try:
            async with httpx.AsyncClient() as client:
                return (await client.get(f"{url}/ready", timeout=1)).status_code == 200
        except httpx.HTTPError:
            return False

    await eventually(ready, timeout=30, what=f"{name} to be ready")
    try:
        yield RunningService(name=name, url=url, app=app, server=server)
    finally:
        server.should_exit = True
        await asyncio.wait_for(task, timeout=20)
