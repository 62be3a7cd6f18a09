"""A Prometheus, an Alertmanager and a notifier of the test's own, on free ports.

Prometheus and Alertmanager run with the very commands ``alexandrite up`` uses
(alexandrite.ops.monitoring), from configs rendered into the test's directory with the test
alert profile (30 s order limits); the notifier runs in-process on a fresh database. The shared
stack's monitoring (if any) is never touched.
"""

from __future__ import annotations

import contextlib
import subprocess
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from alexandrite.common import platform
from alexandrite.notifier.app import create_app as create_notifier
from alexandrite.notifier.settings import Settings as NotifierSettings
from alexandrite.ops.monitoring import (
    MonitoringSettings,
    alertmanager_program,
    prometheus_program,
    render_alertmanager_config,
    render_prometheus_config,
)
from alexandrite.ops.paths import Paths
from alexandrite.ops.program import Program
from alexandrite.ops.scratch_database import fresh_database
from tests.support.infra import free_port
from tests.support.polling import eventually
from tests.support.servers import RunningService, serve_in_process

__all__ = ["Monitoring", "run_monitoring"]


@dataclass
class Monitoring:
    prometheus_url: str
    alertmanager_url: str
    notifier: RunningService
    directory: Path

    async def notifications(self, status: str | None = None) -> list[dict[str, Any]]:
        params: dict[str, Any] = {"limit": 500}
        if status:
            params["status"] = status
        async with httpx.AsyncClient(timeout=10) as client:
            response = await client.get(f"{self.notifier.url}/api/v1/notifications", params=params)
        response.raise_for_status()
        notifications: list[dict[str, Any]] = response.json()
        return notifications

    async def delivered(self, notification: dict[str, Any], timeout: float = 30) -> dict[str, Any]:
        """The notification again once no delivery of it is pending: the notifier stores what
        Alertmanager sends first and delivers it afterwards (retried), so a notification read
        the moment it appears may still say ``pending``."""

        async def settled() -> dict[str, Any] | None:
            for again in await self.notifications():
                same = again["id"] == notification["id"]
                if same and "pending" not in again["deliveries"].values():
                    return again
            return None

        return await eventually(
            settled, timeout=timeout, interval=0.2, what=f"{notification['alertname']} delivered"
        )

    async def query(self, promql: str) -> list[dict[str, Any]]:
        async with httpx.AsyncClient(timeout=10) as client:
            response = await client.get(
                f"{self.prometheus_url}/api/v1/query", params={"query": promql}
            )
        response.raise_for_status()
        result: list[dict[str, Any]] = response.json()["data"]["result"]
        return result

    def logs(self) -> str:
        """The last lines of both servers' logs, for assertion messages."""
        parts = []
        for name in ("prometheus", "alertmanager"):
            log = self.directory / f"{name}.log"
            if log.exists():
                parts.append(f"--- {name}\n" + "\n".join(log.read_text().splitlines()[-20:]))
        return "\n".join(parts)


@contextlib.contextmanager
def _process(program: Program, log: Path) -> Any:
    with log.open("w") as output:
        process = subprocess.Popen(
            program.command, cwd=program.directory, stdout=output, stderr=subprocess.STDOUT
        )
        try:
            yield process
        finally:
            process.terminate()
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=10)


async def _ready(url: str, process: subprocess.Popen[bytes], what: str) -> None:
    async def answered() -> bool:
        if process.poll() is not None:
            raise AssertionError(f"{what} exited with {process.returncode}")
        try:
            async with httpx.AsyncClient(timeout=2) as client:
                return (await client.get(url)).status_code == 200
        except httpx.HTTPError:
            return False

    await eventually(answered, timeout=60, what=f"{what} to be ready")


@contextlib.asynccontextmanager
async def run_monitoring(
    directory: Path,
    *,
    targets: Mapping[str, str] | None = None,
    shop_url: str = platform.SHOP.url,
    amqp_url: str | None = None,
    alert_profile: str = "test",
    database_suffix: str = "monitoring",
) -> AsyncIterator[Monitoring]:
    """``targets``: scrape jobs moved to other addresses (job -> host:port)."""
    settings = MonitoringSettings(
        alert_profile=alert_profile,
        prometheus_port=free_port(),
        alertmanager_port=free_port(),
        notifier_port=free_port(),
        prometheus_storage=directory / "prometheus-data",
        alertmanager_storage=directory / "alertmanager-data",
    )
    paths = Paths(state=directory, cache=directory / "cache")
    prometheus_config = render_prometheus_config(paths, settings, directory / "run", targets)
    alertmanager_config = render_alertmanager_config(paths, settings, directory / "run")
    broker: dict[str, Any] = {"amqp_url": amqp_url} if amqp_url else {}
    notifier_settings = NotifierSettings(
        port=settings.notifier_port,
        database_url=await fresh_database("notifier", database_suffix),
        shop_url=shop_url,
        delivery_poll_interval_s=0.5,
        **broker,
    )
    prometheus = prometheus_program(paths, settings, prometheus_config)
    alertmanager = alertmanager_program(paths, settings, alertmanager_config)
    async with serve_in_process(
        "notifier", create_notifier(notifier_settings), settings.notifier_port
    ) as notifier:
        with (
            _process(alertmanager, directory / "alertmanager.log") as alertmanager_process,
            _process(prometheus, directory / "prometheus.log") as prometheus_process,
        ):
            assert alertmanager.ready_url and prometheus.ready_url
            await _ready(alertmanager.ready_url, alertmanager_process, "Alertmanager")
            await _ready(prometheus.ready_url, prometheus_process, "Prometheus")
            yield Monitoring(
                prometheus_url=f"http://127.0.0.1:{settings.prometheus_port}",
                alertmanager_url=f"http://127.0.0.1:{settings.alertmanager_port}",
                notifier=notifier,
                directory=directory,
            )
