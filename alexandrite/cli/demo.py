"""``alexandrite demo``: drive orders through the real APIs and summarise where they ended.

Each order is created, given a sample model (some not printable, so they are rejected), and
submitted; the CRM's auto-approval and the MES's simulated printers take it from there. The demo
waits for every order to reach a terminal status and prints how many ended where and how long
each stage took, then links to the traces of the orders that failed.
"""

from __future__ import annotations

import asyncio
import itertools
import statistics
import time
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import httpx
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from alexandrite.common import platform
from alexandrite.files.samples import SampleKind, sample_bytes

__all__ = ["DemoResult", "place_order", "print_summary", "run_demo", "wait_terminal"]

TERMINAL = {"completed", "failed", "rejected", "cancelled"}

# Mostly printable parts; the open cup is not watertight, so the CRM's policy rejects it.
DEMO_ROTATION = [
    SampleKind.CUBE_STL,
    SampleKind.BALL_STL,
    SampleKind.TORUS_OBJ,
    SampleKind.CUBE_ASCII_STL,
    SampleKind.CAPSULE_3MF,
    SampleKind.CUBE_STL,
    SampleKind.BALL_STL,
    SampleKind.OPEN_CUP_STL,
]
_MATERIALS = ["PLA", "PETG", "ABS", "resin"]
# A model upload refused because the analysis queue is full (503) is tried this many times.
_UPLOAD_ATTEMPTS = 6


@dataclass
class DemoResult:
    orders: dict[str, dict[str, Any]] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)
    seconds: float = 0.0

    def by_status(self) -> dict[str, list[str]]:
        groups: dict[str, list[str]] = {}
        for order_id, order in self.orders.items():
            groups.setdefault(order["status"], []).append(order_id)
        return groups


async def place_order(
    client: httpx.AsyncClient, shop_url: str, index: int, samples: dict[SampleKind, bytes]
) -> str:
    kind = DEMO_ROTATION[index % len(DEMO_ROTATION)]
    created = await client.post(
        f"{shop_url}/api/v1/orders",
        json={
            "customer": {
                "name": f"Demo Customer {index}",
                "email": f"customer{index}@demo.alexandrite.example",
                "phone": "+49 30 1234567",
            },
            "material": _MATERIALS[index % len(_MATERIALS)],
            "quantity": 1 + index % 3,
            "notes": "demo order",
        },
    )
    created.raise_for_status()
    order_id = str(created.json()["id"])
    url = f"{shop_url}/api/v1/orders/{order_id}/model"
    uploaded = await _upload_model(client, url, kind, samples)
    uploaded.raise_for_status()
    submitted = await client.post(f"{shop_url}/api/v1/orders/{order_id}/submit")
    submitted.raise_for_status()
    return order_id


async def _upload_model(
    client: httpx.AsyncClient, url: str, kind: SampleKind, samples: dict[SampleKind, bytes]
) -> httpx.Response:
    """Upload as a polite client does: a full analysis queue (503) is asked again after its
    Retry-After, a bounded number of times, instead of leaving the order in ``created``."""
    for attempt in range(1, _UPLOAD_ATTEMPTS + 1):
        response = await client.post(
            url, files={"file": (kind.value, samples[kind], "application/octet-stream")}
        )
        if response.status_code != 503 or attempt == _UPLOAD_ATTEMPTS:
            return response
        await asyncio.sleep(_retry_after_s(response))
    raise AssertionError("unreachable")


def _retry_after_s(response: httpx.Response) -> float:
    try:
        return min(max(float(response.headers.get("retry-after", "1")), 0.1), 10.0)
    except ValueError:
        return 1.0


async def wait_terminal(
    client: httpx.AsyncClient, shop_url: str, order_id: str, deadline: float
) -> dict[str, Any]:
    delay = 0.2
    while True:
        response = await client.get(f"{shop_url}/api/v1/orders/{order_id}")
        response.raise_for_status()
        order: dict[str, Any] = response.json()
        if order["status"] in TERMINAL or time.monotonic() > deadline:
            return order
        await asyncio.sleep(delay)
        delay = min(delay * 1.5, 2.0)


async def run_demo(
    orders: int,
    shop_url: str = platform.SHOP.url,
    concurrency: int = 8,
    timeout_s: float = 300.0,
    console: Console | None = None,
) -> DemoResult:
    console = console or Console()
    result = DemoResult()
    samples = {kind: sample_bytes(kind) for kind in set(DEMO_ROTATION)}
    started = time.monotonic()
    deadline = started + timeout_s
    limit = asyncio.Semaphore(concurrency)
    progress = Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
    )

    async with httpx.AsyncClient(timeout=60.0) as client:

        async def one(index: int) -> None:
            try:
                async with limit:
                    order_id = await place_order(client, shop_url, index, samples)
                progress.advance(placed)
                order = await wait_terminal(client, shop_url, order_id, deadline)
                result.orders[order_id] = order
            except httpx.HTTPError as exc:
                result.errors.append(f"order {index}: {exc}")
            progress.advance(finished)

        with progress:
            placed = progress.add_task("orders placed   ", total=orders)
            finished = progress.add_task("orders finished ", total=orders)
            await asyncio.gather(*(one(i) for i in range(orders)))
    result.seconds = time.monotonic() - started
    return result


def _stage_seconds(result: DemoResult) -> dict[str, list[float]]:
    stages: dict[str, list[float]] = {}
    for order in result.orders.values():
        history = order["history"]
        for entry, following in itertools.pairwise(history):
            seconds = (
                datetime.fromisoformat(following["at"]) - datetime.fromisoformat(entry["at"])
            ).total_seconds()
            stages.setdefault(f"{entry['status']} → {following['status']}", []).append(seconds)
    return stages


def print_summary(result: DemoResult, console: Console, trace_ui: str | None) -> None:
    groups = result.by_status()
    outcome = Table(title=f"{len(result.orders)} orders in {result.seconds:.1f} s")
    outcome.add_column("final status")
    outcome.add_column("orders", justify="right")
    for status, ids in sorted(groups.items(), key=lambda item: -len(item[1])):
        outcome.add_row(status, str(len(ids)))
    console.print(outcome)
    stages = Table(title="time per stage (seconds)")
    for column in ("stage", "orders", "median", "p95", "max"):
        stages.add_column(column, justify="right" if column != "stage" else "left")
    for stage, values in sorted(_stage_seconds(result).items(), key=lambda item: item[0]):
        ordered = sorted(values)
        p95 = ordered[min(len(ordered) - 1, int(0.95 * len(ordered)))]
        stages.add_row(
            stage,
            str(len(values)),
            f"{statistics.median(values):.2f}",
            f"{p95:.2f}",
            f"{ordered[-1]:.2f}",
        )
    console.print(stages)
    for error in result.errors:
        console.print(f"[red]error:[/red] {error}")
    failed = groups.get("failed", []) + groups.get("rejected", [])
    if trace_ui and failed:
        console.print("\nThe orders that did not complete, their journey and their traces:")
        for order_id in failed:
            reason = result.orders[order_id].get("reason") or ""
            console.print(f"  {order_id}  [yellow]{reason}[/yellow]")
            console.print(f"    journey: {trace_ui}orders/{order_id}")
            console.print(
                f"    Zipkin:  {trace_ui}zipkin/?annotationQuery=order.id%3D{order_id}"
                "&lookback=3600000&limit=10"
            )
