"""The four services in-process on free ports, with test databases and a test virtual host.

Automation is off (no auto-approval, no simulated printers), so tests drive each step by hand,
through the same HTTP APIs and RabbitMQ events as in production.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest_asyncio

from alexandrite.crm.app import create_app as create_crm
from alexandrite.crm.settings import Settings as CrmSettings
from alexandrite.files.app import create_app as create_files
from alexandrite.files.settings import Settings as FilesSettings
from alexandrite.mes.app import create_app as create_mes
from alexandrite.mes.settings import Settings as MesSettings
from alexandrite.ops.scratch_database import fresh_database
from alexandrite.shop.app import create_app as create_shop
from alexandrite.shop.settings import Settings as ShopSettings
from tests.support.infra import free_port, test_amqp_url
from tests.support.servers import RunningService, serve_in_process

# Fast retries so that a poison message reaches its dead-letter queue within seconds.
RETRY_DELAYS_MS = [100, 200, 300]


@dataclass
class Platform:
    shop: RunningService
    crm: RunningService
    mes: RunningService
    files: RunningService
    amqp_url: str
    # The services' faults file (``alexandrite faults``): the tests' own, never the stack's.
    faults_file: Path


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def platform(tmp_path_factory: object) -> AsyncIterator[Platform]:
    amqp_url = test_amqp_url()
    storage = Path(tmp_path_factory.mktemp("models"))  # type: ignore[attr-defined]
    faults_file = Path(tmp_path_factory.mktemp("run")) / "faults.json"  # type: ignore[attr-defined]
    # Any: the same keyword arguments go to five settings classes.
    common: dict[str, Any] = {
        "amqp_url": amqp_url,
        "faults_file": faults_file,
        "consumer_retry_delays_ms": RETRY_DELAYS_MS,
        "consumer_max_attempts": 3,
        "outbox_poll_interval_s": 0.2,
    }
    files_port = free_port()
    files_url = f"http://127.0.0.1:{files_port}"
    async with contextlib.AsyncExitStack() as stack:
        files = await stack.enter_async_context(
            serve_in_process(
                "files",
                create_files(
                    FilesSettings(
                        port=files_port,
                        database_url=await fresh_database("files"),
                        storage_dir=storage,
                        max_upload_bytes=2 * 1024 * 1024,
                        **common,
                    )
                ),
                files_port,
            )
        )
        crm_port, mes_port, shop_port = free_port(), free_port(), free_port()
        crm = await stack.enter_async_context(
            serve_in_process(
                "crm",
                create_crm(
                    CrmSettings(
                        port=crm_port,
                        database_url=await fresh_database("crm"),
                        files_url=files_url,
                        **common,
                    )
                ),
                crm_port,
            )
        )
        mes = await stack.enter_async_context(
            serve_in_process(
                "mes",
                create_mes(
                    MesSettings(
                        port=mes_port,
                        database_url=await fresh_database("mes"),
                        files_url=files_url,
                        **common,
                    )
                ),
                mes_port,
            )
        )
        shop = await stack.enter_async_context(
            serve_in_process(
                "shop",
                create_shop(
                    ShopSettings(
                        port=shop_port,
                        database_url=await fresh_database("shop"),
                        files_url=files_url,
                        **common,
                    )
                ),
                shop_port,
            )
        )
        yield Platform(
            shop=shop, crm=crm, mes=mes, files=files, amqp_url=amqp_url, faults_file=faults_file
        )
