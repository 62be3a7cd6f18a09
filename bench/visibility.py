"""Benchmark 3: time to visibility — from the end of an order's create request to its spans
being found by ``order.id`` in Zipkin (the support engineer's search), p50 and p95.

Orders are created at a steady trickle on a traced Shop that exports to the benchmark's
Collector and Zipkin (MariaDB storage); a poller per order asks Zipkin's search API every
``poll_s`` until the trace is there. The result is bounded below by the SDK's batch delay, the
Collector's tail-sampling decision wait and its batch timeout, which is why they are reported
next to it.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import httpx

from alexandrite.common.settings import TelemetrySettings
from bench.platform import Pipeline, service_process, service_url
from bench.stats import percentile

__all__ = ["run_visibility"]


async def _measure(
    shop_url: str, zipkin_url: str, orders: int, interval_s: float, poll_s: float, timeout_s: float
) -> tuple[list[float], int]:
    delays: list[float] = []
    missing = 0
    async with httpx.AsyncClient(timeout=10.0) as client:

        async def one(number: int) -> None:
            nonlocal missing
            response = await client.post(
                f"{shop_url}/api/v1/orders",
                json={
                    "customer": {"name": f"Seen {number}", "email": f"s{number}@bench.example"},
                    "material": "PLA",
                    "quantity": 1,
                },
            )
            ended = time.perf_counter()
            response.raise_for_status()
            order_id = response.json()["id"]
            query = {
                "annotationQuery": f"order.id={order_id}",
                "lookback": "600000",
                "limit": "1",
            }
            while time.perf_counter() - ended < timeout_s:
                await asyncio.sleep(poll_s)
                found = await client.get(f"{zipkin_url}/api/v2/traces", params=query)
                if found.status_code == 200 and found.json():
                    delays.append(time.perf_counter() - ended)
                    return
            missing += 1

        tasks = []
        for number in range(orders):
            tasks.append(asyncio.create_task(one(number)))
            await asyncio.sleep(interval_s)
        await asyncio.gather(*tasks)
    return delays, missing


def run_visibility(
    pipeline: Pipeline,
    databases: dict[str, str],
    amqp_url: str,
    *,
    orders: int = 40,
    interval_s: float = 0.25,
    # Each waiting order asks Zipkin's search this often: at 0.05 s the benchmark's own ~160
    # searches a second loaded the store it measures; 0.1 s rounds each delay up by < 0.1 s.
    poll_s: float = 0.1,
    schedule_delay_ms: int | None = None,
) -> dict[str, Any]:
    shop = service_process(
        "shop",
        name="shop-visibility",
        database_url=databases["shop"],
        amqp_url=amqp_url,
        telemetry=pipeline.telemetry_environment(1.0, schedule_delay_ms),
    )
    try:
        shop.start()
        shop.wait_ready()
        # One order first: the pipeline's first spans pay for warm-ups that are not the point.
        asyncio.run(_measure(service_url(shop), pipeline.zipkin_url, 1, 0.0, 0.2, 30.0))
        delays, missing = asyncio.run(
            _measure(service_url(shop), pipeline.zipkin_url, orders, interval_s, poll_s, 30.0)
        )
    finally:
        shop.stop()
    settings = pipeline.settings
    sdk = TelemetrySettings()
    return {
        "orders": orders,
        "found": len(delays),
        "missing_after_30s": missing,
        "p50_s": round(percentile(delays, 0.5), 3),
        "p95_s": round(percentile(delays, 0.95), 3),
        "max_s": round(max(delays), 3) if delays else None,
        "poll_interval_s": poll_s,
        "storage": pipeline.storage,
        "floor": {
            "sdk_schedule_delay_s": (
                schedule_delay_ms if schedule_delay_ms is not None else sdk.schedule_delay_ms
            )
            / 1000,
            "tail_sampling_decision_wait_s": settings.decision_wait_seconds,
            # deploy/otelcol/config.yaml: the decision is taken at the next 1 s tick once the
            # trace's root span is in (a created order's trace is its root span).
            "tail_sampling_after_root_s": "next 1 s tick",
            "collector_batch_timeout_s": 0.1,
        },
        "delays_s": [round(d, 3) for d in delays],
    }
