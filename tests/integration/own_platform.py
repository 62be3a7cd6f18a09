"""The in-process platform of tests/integration/conftest.py, on databases and a RabbitMQ vhost
named for one test module, so that test sessions running at the same time on this machine (each
recreating the shared ``alexandrite_<svc>_test`` databases) cannot pull them from under it."""

from __future__ import annotations

import contextlib
import subprocess
from collections.abc import AsyncIterator, Mapping
from pathlib import Path
from typing import Any

from alexandrite.common import platform
from alexandrite.crm.app import create_app as create_crm
from alexandrite.crm.settings import Settings as CrmSettings
from alexandrite.files.app import create_app as create_files
from alexandrite.files.settings import Settings as FilesSettings
from alexandrite.mes.app import create_app as create_mes
from alexandrite.mes.settings import Settings as MesSettings
from alexandrite.ops.scratch_database import fresh_database
from alexandrite.shop.app import create_app as create_shop
from alexandrite.shop.settings import Settings as ShopSettings
from tests.integration.conftest import RETRY_DELAYS_MS, Platform
from tests.support.infra import free_port
from tests.support.servers import serve_in_process

__all__ = ["own_platform"]


def _own_vhost(vhost: str) -> str:
    for command in (
        ["rabbitmqctl", "-q", "delete_vhost", vhost],
        ["rabbitmqctl", "-q", "add_vhost", vhost],
        ["rabbitmqctl", "-q", "set_permissions", "-p", vhost, "guest", ".*", ".*", ".*"],
    ):
        subprocess.run(command, check=command[2] != "delete_vhost", capture_output=True)
    return f"amqp://guest:guest@{platform.HOST}:{platform.RABBITMQ.port}/{vhost}"


@contextlib.asynccontextmanager
async def own_platform(
    directory: Path,
    suffix: str,
    *,
    amqp_url: str | None = None,
    settings: Mapping[str, Mapping[str, Any]] | None = None,
) -> AsyncIterator[Platform]:
    """The four services in-process. ``amqp_url``: a broker vhost of the caller's (default: a
    fresh vhost of the single broker); ``settings``: more settings per service (``"common"``
    for all four), e.g. a cluster's quorum queues or the MES's simulated printers."""
    amqp_url = amqp_url or _own_vhost(f"alexandrite-{suffix}")
    faults_file = directory / "run" / "faults.json"
    more = settings or {}
    common: dict[str, Any] = {
        "amqp_url": amqp_url,
        "faults_file": faults_file,
        "consumer_retry_delays_ms": RETRY_DELAYS_MS,
        "consumer_max_attempts": 3,
        "outbox_poll_interval_s": 0.2,
        **more.get("common", {}),
    }
    ports = {name: free_port() for name in ("files", "crm", "mes", "shop")}
    files_url = f"http://127.0.0.1:{ports['files']}"
    async with contextlib.AsyncExitStack() as stack:

        async def serve(name: str, app: Any) -> Any:
            return await stack.enter_async_context(serve_in_process(name, app, ports[name]))

        files = await serve(
            "files",
            create_files(
                FilesSettings(
                    port=ports["files"],
                    database_url=await fresh_database("files", suffix),
                    storage_dir=directory / "models",
                    **common,
                    **more.get("files", {}),
                )
            ),
        )
        crm = await serve(
            "crm",
            create_crm(
                CrmSettings(
                    port=ports["crm"],
                    database_url=await fresh_database("crm", suffix),
                    files_url=files_url,
                    **common,
                    **more.get("crm", {}),
                )
            ),
        )
        mes = await serve(
            "mes",
            create_mes(
                MesSettings(
                    port=ports["mes"],
                    database_url=await fresh_database("mes", suffix),
                    files_url=files_url,
                    **common,
                    **more.get("mes", {}),
                )
            ),
        )
        shop = await serve(
            "shop",
            create_shop(
                ShopSettings(
                    port=ports["shop"],
                    database_url=await fresh_database("shop", suffix),
                    files_url=files_url,
                    **common,
                    **more.get("shop", {}),
                )
            ),
        )
        yield Platform(
            shop=shop, crm=crm, mes=mes, files=files, amqp_url=amqp_url, faults_file=faults_file
        )
