"""A tracing backend that is down degrades tracing, never orders."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator

import httpx
import pytest

from alexandrite.cli.demo import DEMO_ROTATION, place_order, wait_terminal
from alexandrite.files.samples import sample_bytes
from alexandrite.ops.paths import Paths
from alexandrite.ops.supervisor import Supervisor
from tests.e2e.zipkin import spans_of_order
from tests.support.polling import eventually

pytestmark = [pytest.mark.e2e, pytest.mark.disruptive]

SHOP = "http://127.0.0.1:8001"
SAMPLES = {kind: sample_bytes(kind) for kind in set(DEMO_ROTATION)}
READY = {"otelcol": "http://127.0.0.1:13133/", "zipkin": "http://127.0.0.1:9411/health"}


async def _ready(url: str) -> bool:
    try:
        async with httpx.AsyncClient(timeout=2) as client:
            return (await client.get(url)).status_code == 200
    except httpx.HTTPError:
        return False


@contextlib.asynccontextmanager
async def _stopped(name: str) -> AsyncIterator[None]:
    supervisor = Supervisor(Paths.from_env())
    await asyncio.to_thread(supervisor.stop, name)
    try:
        yield
    finally:
        await asyncio.to_thread(supervisor.start, name)
        await eventually(lambda: _ready(READY[name]), timeout=180, what=f"{name} back")


async def _orders_complete_without_errors(count: int) -> list[str]:
    async with httpx.AsyncClient(timeout=60) as client:
        ids = [await place_order(client, SHOP, index, SAMPLES) for index in range(count)]
        for order_id in ids:
            order = await wait_terminal(client, SHOP, order_id, time.monotonic() + 120)
            assert order["status"] in {"completed", "failed", "rejected"}, order
    return ids


@pytest.mark.parametrize("backend", ["otelcol", "zipkin"])
async def test_orders_flow_while_a_tracing_backend_is_down_and_traces_return_after(
    backend: str,
) -> None:
    async with _stopped(backend):
        # place_order raises on any non-2xx answer: every request of every order succeeded.
        await _orders_complete_without_errors(4)
    (order_id,) = await _orders_complete_without_errors(1)
    async with httpx.AsyncClient(timeout=30) as client:

        async def visible() -> bool:
            return bool(await spans_of_order(client, order_id))

        await eventually(visible, timeout=60, what="traces of an order placed after the restart")
