"""``alexandrite demo --faults …``: a rehearsal. Faults go on while orders flow and a manager's
dashboard polls the CRM; the demo then waits for the alert to reach the notifier, clears the
faults and waits for the resolved notice, so a demo shows an alert delivered and resolved."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import httpx
from rich.console import Console

from alexandrite.cli.faults import clear_stored
from alexandrite.common import platform

__all__ = ["fault_rehearsal"]

CRM = platform.CRM.url
NOTIFIER = platform.NOTIFIER.url


async def _notifications(client: httpx.AsyncClient, status: str) -> list[dict[str, Any]]:
    response = await client.get(
        f"{NOTIFIER}/api/v1/notifications", params={"status": status, "limit": 200}
    )
    response.raise_for_status()
    result: list[dict[str, Any]] = response.json()
    return result


async def _wait_for(
    client: httpx.AsyncClient,
    status: str,
    since: datetime,
    fingerprints: set[str] | None,
    timeout_s: float,
) -> list[dict[str, Any]]:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        found = [
            item
            for item in await _notifications(client, status)
            if datetime.fromisoformat(item["received_at"]) >= since
            and (fingerprints is None or item["fingerprint"] in fingerprints)
        ]
        if found:
            return found
        await asyncio.sleep(2)
    return []


async def _dashboard(client: httpx.AsyncClient, stop: asyncio.Event) -> None:
    """A manager's review list, refreshed twice a second: the CRM traffic the faults hit."""
    while not stop.is_set():
        with contextlib.suppress(httpx.HTTPError):
            await client.get(f"{CRM}/api/v1/orders", params={"status": "in_review"})
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), 0.5)


@contextlib.asynccontextmanager
async def fault_rehearsal(
    since: datetime, console: Console, timeout_s: float = 240.0
) -> AsyncIterator[None]:
    """Around the orders of a demo whose faults went on at ``since``; clears them at the end."""
    stop = asyncio.Event()
    async with httpx.AsyncClient(timeout=10.0) as client:
        dashboard = asyncio.create_task(_dashboard(client, stop))
        try:
            yield
            console.print("waiting for the alert to reach the notifier …")
            firing = await _wait_for(client, "firing", since, None, timeout_s)
        finally:
            stop.set()
            await dashboard
            clear_stored(console)
        if not firing:
            console.print(f"[red]no alert reached the notifier within {timeout_s:.0f} s[/red]")
            return
        for item in firing:
            console.print(
                f"[red]FIRING[/red] {item['alertname']} ({item['severity']}): "
                f"{item['annotations'].get('summary', '')}  "
                f"after {(datetime.fromisoformat(item['received_at']) - since).seconds} s"
            )
        console.print("faults cleared; waiting for the resolved notice …")
        cleared = datetime.now(UTC)
        resolved = await _wait_for(
            client, "resolved", cleared, {item["fingerprint"] for item in firing}, timeout_s
        )
        for item in resolved:
            console.print(
                f"[green]RESOLVED[/green] {item['alertname']}: "
                f"{(datetime.fromisoformat(item['received_at']) - cleared).seconds} s "
                "after the faults were cleared"
            )
        if not resolved:
            console.print(f"[yellow]not resolved within {timeout_s:.0f} s[/yellow]")
