"""A Shop whose PostgreSQL is unreachable, fed hostile requests over real sockets (uvicorn).

The instance points at a closed port for its database and its broker, so the shared PostgreSQL
and RabbitMQ are never stopped: an order create is answered 503 with Retry-After (not 500),
a quantity of "1" or true is refused 422 before any database is needed, and a 100 MB JSON body
is refused 413 without the process's memory growing, whether it declares its length or not.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import AsyncIterator

import httpx
import psutil
import pytest
import pytest_asyncio
import uvicorn

from alexandrite.shop.app import create_app
from alexandrite.shop.settings import Settings
from tests.support.infra import free_port
from tests.support.polling import eventually

pytestmark = pytest.mark.integration

_MIB = 1024 * 1024
_ORDER = {"customer": {"name": "Ada", "email": "ada@example.com"}, "material": "PLA"}


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def shop_without_database(tmp_path_factory) -> AsyncIterator[str]:
    closed = free_port()  # nothing listens there: connections are refused at once
    settings = Settings(
        port=free_port(),
        database_url=f"postgresql+asyncpg://alexandrite:unused@127.0.0.1:{closed}/alexandrite_shop",
        amqp_url=f"amqp://guest:guest@127.0.0.1:{closed}/",
        faults_file=tmp_path_factory.mktemp("faults") / "faults.json",
    )
    server = uvicorn.Server(
        uvicorn.Config(
            create_app(settings),
            host="127.0.0.1",
            port=settings.port,
            log_config=None,
            access_log=False,
        )
    )
    task = asyncio.create_task(server.serve(), name="uvicorn-shop-without-database")
    url = f"http://127.0.0.1:{settings.port}"

    async def alive() -> bool:
        if task.done():
            task.result()
        with contextlib.suppress(httpx.HTTPError):
            async with httpx.AsyncClient() as client:
                return (await client.get(f"{url}/health", timeout=1)).status_code == 200
        return False

    await eventually(alive, timeout=30, what="the Shop to serve /health")
    try:
        yield url
    finally:
        server.should_exit = True
        await asyncio.wait_for(task, timeout=20)


async def _post(url: str, **kwargs: object) -> httpx.Response:
    async with httpx.AsyncClient(timeout=30) as client:
        return await client.post(f"{url}/api/v1/orders", **kwargs)  # type: ignore[arg-type]


async def test_an_order_create_with_the_database_unreachable_is_503_with_retry_after(
    shop_without_database,
):
    response = await _post(shop_without_database, json={**_ORDER, "quantity": 1})
    assert response.status_code == 503, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    assert int(response.headers["retry-after"]) > 0
    body = response.json()
    assert body["type"].endswith("/database-unavailable")
    assert "nothing was saved" in body["detail"]
    # The driver's message (host, port) stays in the log.
    assert "127.0.0.1" not in response.text


@pytest.mark.parametrize("quantity", ["1", True, 1.0, "one"])
async def test_a_quantity_that_is_not_a_json_integer_is_refused_422(
    shop_without_database, quantity
):
    response = await _post(shop_without_database, json={**_ORDER, "quantity": quantity})
    assert response.status_code == 422, response.text
    errors = response.json()["errors"]
    assert [e["loc"] for e in errors] == [["body", "quantity"]]


def _rss() -> int:
    return int(psutil.Process(os.getpid()).memory_info().rss)


async def _send_until_answered(url: str, declared: bool) -> tuple[bytes, int]:
    """POST up to 100 MiB of JSON over a raw socket, stopping as soon as the server answers;
    the answer and how many body bytes were sent. (httpx sends a whole body before it reads.)"""
    host, port = url.removeprefix("http://").split(":")
    reader, writer = await asyncio.open_connection(host, int(port))
    framing = f"content-length: {100 * _MIB}" if declared else "transfer-encoding: chunked"
    writer.write(
        f"POST /api/v1/orders HTTP/1.1\r\nhost: {host}\r\ncontent-type: application/json\r\n"
        f"{framing}\r\n\r\n".encode()
    )
    answer = asyncio.create_task(reader.read(64 * 1024))
    sent = 0
    chunk = b'{"notes": "' + b"x" * (_MIB - 11)
    try:
        while sent < 100 * _MIB and not answer.done():
            writer.write(chunk if declared else b"%x\r\n%s\r\n" % (len(chunk), chunk))
            await asyncio.wait([answer, asyncio.ensure_future(writer.drain())], timeout=5)
            sent += len(chunk)
            chunk = b"x" * _MIB
    except ConnectionError:
        pass  # the server closed after answering
    head = await asyncio.wait_for(answer, timeout=30)
    writer.close()
    return head, sent


@pytest.mark.parametrize("declared", [True, False], ids=["content-length", "chunked"])
async def test_a_100_mib_json_body_is_refused_413_without_the_process_growing(
    shop_without_database, declared
):
    before = _rss()
    head, sent = await _send_until_answered(shop_without_database, declared)
    grown = _rss() - before
    status_line, _, rest = head.partition(b"\r\n")
    assert status_line.startswith(b"HTTP/1.1 413 "), head[:300]
    assert b"application/problem+json" in rest
    assert b'"max_bytes":1048576' in rest
    # Refused within a few MiB of the 1 MiB limit, not after the hundred.
    assert sent <= 8 * _MIB
    # The client and the server share this process: the server held no more than the limit.
    assert grown < 20 * _MIB, f"the process grew by {grown / _MIB:.0f} MiB"
