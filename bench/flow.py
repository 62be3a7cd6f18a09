"""Benchmarks 4 and 5: completed orders per second through every system, traced and untraced,
and what each process spends (CPU seconds, peak memory) per 1,000 orders.

Two complete sets of the four services run side by side, each with its own databases and
RabbitMQ virtual host (so neither takes the other's events): one traced (exporting to the
benchmark's Collector and Zipkin), one untraced. The demo automation is on (CRM auto-approval,
16 simulated printers), printing takes no time and never fails. A round places ``orders`` orders
the way the demo does (create, upload a model through the Shop, submit) from ``concurrency``
clients, and ends when the last of them is completed; rounds alternate between the two sets.
Completion is read from the Shop's database, not by polling the API, so that watching the flow
adds no requests and no spans to it. Spans per completed order: the spans Zipkin stored during
the traced rounds (100 % sampling, counted once the Collector's decision wait has let the last
ones through) divided by the orders those rounds completed.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import Counter
from collections.abc import Awaitable
from dataclasses import dataclass
from typing import Any

import asyncpg
import httpx

from alexandrite.files.samples import SampleKind, sample_bytes
from bench.platform import (
    Pipeline,
    bench_amqp_url,
    bench_dir,
    fresh_databases,
    service_process,
    service_url,
)
from bench.processes import BenchProcess
from bench.profile import Profiler
from bench.stats import percentile, summary

__all__ = ["FlowConfig", "run_flow"]

PRINTERS = 16


@dataclass(frozen=True)
class FlowConfig:
    pairs: int = 2
    orders: int = 150
    concurrency: int = 16
    round_timeout_s: float = 120.0
    # A quiet window after the warm-up, in which every process's idle CPU (relay polls, the
    # printers' polls, sweepers, the JVMs) is measured, to be separated from the work of orders.
    idle_s: float = 20.0


@dataclass
class ServiceSet:
    side: str
    processes: dict[str, BenchProcess]
    shop_database: str

    @property
    def shop_url(self) -> str:
        return service_url(self.processes["shop"])


def _service_set(side: str, telemetry: dict[str, str] | None) -> ServiceSet:
    suffix = f"bench_{side}"
    databases = fresh_databases(suffix=suffix)
    amqp_url = bench_amqp_url(f"alexandrite-bench-{side}")
    files = service_process(
        "files",
        name=f"files-{side}",
        database_url=databases["files"],
        amqp_url=amqp_url,
        telemetry=telemetry,
        extra={"FILES_STORAGE_DIR": str(bench_dir() / "models" / f"flow-{side}")},
    )
    files_url = service_url(files)
    common = {"amqp_url": amqp_url, "telemetry": telemetry}
    processes = {
        "files": files,
        "crm": service_process(
            "crm",
            name=f"crm-{side}",
            database_url=databases["crm"],
            extra={"CRM_FILES_URL": files_url, "CRM_AUTO_APPROVE": "true"},
            **common,  # type: ignore[arg-type]
        ),
        "mes": service_process(
            "mes",
            name=f"mes-{side}",
            database_url=databases["mes"],
            extra={
                "MES_FILES_URL": files_url,
                "MES_SIMULATE_PRINTERS": "true",
                "MES_PRINTERS": str(PRINTERS),
                "MES_FAILURE_RATE": "0",
                "MES_PRINT_SECONDS_PER_CM3": "0",
                "MES_PRINT_SECONDS_MIN": "0",
                "MES_PRINT_SECONDS_MAX": "0",
            },
            **common,  # type: ignore[arg-type]
        ),
        "shop": service_process(
            "shop",
            name=f"shop-{side}",
            database_url=databases["shop"],
            extra={"SHOP_FILES_URL": files_url},
            **common,  # type: ignore[arg-type]
        ),
    }
    return ServiceSet(side=side, processes=processes, shop_database=databases["shop"])


async def _count_completed(database_url: str) -> tuple[int, int]:
    """(completed, finished otherwise) orders in the Shop's database.

    Read with the very URL the Shop was started with (its owner role and password, from
    ``fresh_database``), not a credential derived a second time: the bench then fails only
    when the Shop itself cannot log in.
    """
    try:
        connection = await asyncpg.connect(database_url.replace("postgresql+asyncpg", "postgresql"))
    except asyncpg.InvalidPasswordError as error:
        # fresh_database set this role's password from our secrets directory when the run
        # began: refused now, it was reset since, by a setup working from another one (another
        # checkout or state directory on this machine sharing the PostgreSQL server).
        raise RuntimeError(
            f"PostgreSQL refused the Shop's own credential ({error}): the role's password no "
            "longer matches this checkout's secrets, most likely reset during the run by a setup "
            "working from another state directory; `alexandrite up` here sets it back"
        ) from error
    try:
        rows = await connection.fetch("SELECT status, count(*) AS n FROM orders GROUP BY status")
    finally:
        await connection.close()
    counts = {str(row["status"]).lower(): int(row["n"]) for row in rows}
    other = sum(counts.get(status, 0) for status in ("failed", "rejected", "cancelled"))
    return counts.get("completed", 0), other


async def _sessions(database_url: str) -> dict[str, int]:
    """Connections PostgreSQL has accepted so far into each database of this side's set
    (``pg_stat_database.sessions``): a pool that keeps its connections opens a handful per
    round, one that throws them away opens one per transaction past its size."""
    connection = await asyncpg.connect(database_url.replace("postgresql+asyncpg", "postgresql"))
    try:
        suffix = database_url.rsplit("/", 1)[1].removeprefix("alexandrite_shop")
        rows = await connection.fetch(
            "SELECT datname, sessions FROM pg_stat_database WHERE datname LIKE $1",
            f"alexandrite_%{suffix}",
        )
    finally:
        await connection.close()
    return {str(row["datname"]): int(row["sessions"]) for row in rows}


async def _round(services: ServiceSet, config: FlowConfig) -> dict[str, Any]:
    model = sample_bytes(SampleKind.CUBE_STL)
    shop = services.shop_url
    sessions_before = await _sessions(services.shop_database)
    before, before_other = await _count_completed(services.shop_database)
    # Each count below is a connection of the bench's own to the Shop's database.
    own_connections = 2
    placed = 0
    errors: list[str] = []
    numbers = iter(range(config.orders))
    # How long each of the three requests took: says which step bounds the placing rate.
    steps: dict[str, list[float]] = {"create": [], "upload": [], "submit": []}

    async def timed(step: str, call: Awaitable[httpx.Response]) -> httpx.Response:
        begun = time.perf_counter()
        response = await call
        steps[step].append(time.perf_counter() - begun)
        return response

    async def client_loop(client: httpx.AsyncClient) -> None:
        nonlocal placed
        for number in numbers:
            try:
                created = await timed(
                    "create",
                    client.post(
                        f"{shop}/api/v1/orders",
                        json={
                            "customer": {
                                "name": f"Flow {number}",
                                "email": f"f{number}@bench.example",
                            },
                            "material": "PLA",
                            "quantity": 1,
                        },
                    ),
                )
                created.raise_for_status()
                order_id = created.json()["id"]
                uploaded = await timed(
                    "upload",
                    client.post(
                        f"{shop}/api/v1/orders/{order_id}/model",
                        files={"file": ("cube-20mm.stl", model, "application/octet-stream")},
                    ),
                )
                uploaded.raise_for_status()
                submitted = await timed(
                    "submit", client.post(f"{shop}/api/v1/orders/{order_id}/submit")
                )
                submitted.raise_for_status()
                placed += 1
            except httpx.HTTPError as exc:
                errors.append(repr(exc)[:200])

    started = time.perf_counter()
    limits = httpx.Limits(max_connections=config.concurrency)
    async with httpx.AsyncClient(timeout=60.0, limits=limits) as client:
        await asyncio.gather(*(client_loop(client) for _ in range(config.concurrency)))
    placing_s = time.perf_counter() - started
    completed = other = 0
    while time.perf_counter() - started < config.round_timeout_s:
        done, finished_otherwise = await _count_completed(services.shop_database)
        own_connections += 1
        completed, other = done - before, finished_otherwise - before_other
        if completed + other >= placed:
            break
        await asyncio.sleep(0.1)
    seconds = time.perf_counter() - started
    sessions_after = await _sessions(services.shop_database)
    opened = {
        name.removeprefix("alexandrite_").split("_", 1)[0]: count - sessions_before.get(name, 0)
        for name, count in sessions_after.items()
    }
    opened["shop"] = opened.get("shop", 0) - own_connections
    return {
        "placed": placed,
        # Database connections the services opened during the round, per database.
        "db_connections_opened": opened,
        "completed": completed,
        "not_completed": placed - completed,
        "errors": errors[:5],
        "placing_s": round(placing_s, 2),
        "step_ms": {
            step: {
                "p50": round(percentile(values, 0.5) * 1000, 1),
                "p99": round(percentile(values, 0.99) * 1000, 1),
            }
            for step, values in steps.items()
        },
        "seconds": round(seconds, 2),
        "orders_per_s": completed / seconds if seconds else 0.0,
    }


def _settled_spans(pipeline: Pipeline, timeout_s: float = 30.0) -> int:
    """Zipkin's span count once it stops growing: the tail sampler holds each trace for its
    decision wait, so the spans of a round's last orders arrive seconds after the round."""
    deadline = time.monotonic() + timeout_s
    last = pipeline.stored_spans()
    while time.monotonic() < deadline:
        time.sleep(1.0)
        now = pipeline.stored_spans()
        if now == last:
            return now
        last = now
    return last


def _census(pipeline: Pipeline, orders: int) -> dict[str, Any]:
    """Every span Zipkin holds (memory storage), by service and name, per completed order."""
    response = httpx.get(
        f"{pipeline.zipkin_url}/api/v2/traces",
        params={"limit": 1_000_000, "lookback": 86_400_000},
        timeout=120.0,
    )
    response.raise_for_status()
    names: Counter[str] = Counter()
    without_order: Counter[str] = Counter()
    order_ids: set[str] = set()
    # Statements slower than the threshold are spans by design, outside the span budget
    # (docs/tracing.md); on a loaded machine they say more about the load than the order.
    slow_statements = 0
    for trace in response.json():
        for span in trace:
            label = f"{span.get('localEndpoint', {}).get('serviceName', '?')}: {span.get('name')}"
            names[label] += 1
            if span.get("tags", {}).get("db.statement.slow") == "true":
                slow_statements += 1
            order_id = span.get("tags", {}).get("order.id")
            if order_id:
                order_ids.add(order_id)
            else:
                without_order[label] += 1
    per_order = max(len(order_ids), 1)
    return {
        "orders_seen": len(order_ids),
        "completed_orders": orders,
        "spans_per_order_seen": round(sum(names.values()) / per_order, 1),
        "slow_statement_spans_per_order_seen": round(slow_statements / per_order, 2),
        "by_name_per_order": {
            name: round(count / per_order, 2) for name, count in names.most_common()
        },
        "without_order_id": dict(without_order.most_common(20)),
    }


def run_flow(
    pipeline: Pipeline, config: FlowConfig, profiler: Profiler | None = None
) -> dict[str, Any]:
    sets = {
        "traced": _service_set("traced", pipeline.telemetry_environment(1.0)),
        "untraced": _service_set("untraced", None),
    }
    every = [process for s in sets.values() for process in s.processes.values()]
    rounds: dict[str, list[dict[str, Any]]] = {side: [] for side in sets}
    cpu: dict[str, dict[str, float]] = {side: {} for side in sets}
    # The part of that CPU the same process spends idle over as long as the round lasted.
    idle_cpu: dict[str, dict[str, float]] = {side: {} for side in sets}
    orders_done: dict[str, int] = dict.fromkeys(sets, 0)
    spans_stored = 0
    try:
        for process in every:
            process.start()
        for process in every:
            process.wait_ready()
        # A warm-up round each (imports, pools, JIT of the JVM): not counted.
        for services in sets.values():
            asyncio.run(_round(services, FlowConfig(orders=20, concurrency=4)))
        idle_rate = _idle_cpu_rates(
            [*every, *pipeline.resources()], config.idle_s, pipeline=pipeline
        )
        order = []
        for pair in range(config.pairs):
            order += ["traced", "untraced"] if pair % 2 == 0 else ["untraced", "traced"]
        recording = (
            profiler.recording("flow", every) if profiler is not None else contextlib.nullcontext()
        )
        with recording:
            for side in order:
                services = sets[side]
                watched = list(services.processes.values())
                if side == "traced":
                    watched += pipeline.resources()
                    spans_before = _settled_spans(pipeline)
                before = {process.name: process.sample().cpu_s for process in watched}
                result = asyncio.run(_round_sampling(services, config, watched))
                rounds[side].append(result)
                orders_done[side] += result["completed"]
                for process in watched:
                    used = process.sample().cpu_s - before[process.name]
                    cpu[side][process.name] = cpu[side].get(process.name, 0.0) + used
                    idle_cpu[side][process.name] = (
                        idle_cpu[side].get(process.name, 0.0)
                        + idle_rate[process.name] * result["seconds"]
                    )
                if side == "traced":
                    spans_stored += _settled_spans(pipeline) - spans_before
        census = _census(pipeline, orders_done["traced"])
    finally:
        for process in every:
            process.stop()
    ratios = [
        t["orders_per_s"] / u["orders_per_s"] if u["orders_per_s"] else float("nan")
        for t, u in zip(rounds["traced"], rounds["untraced"], strict=True)
    ]
    resources: dict[str, Any] = {}
    for side, spent in cpu.items():
        per_thousand = 1000 / orders_done[side] if orders_done[side] else float("nan")
        resources[side] = {
            name: {
                "cpu_s_per_1000_orders": round(seconds * per_thousand, 1),
                # Idle: what the process spent per second in the quiet window, in % of a core;
                # under load: its CPU in the rounds less that idle rate × the rounds' length.
                "idle_cpu_percent": round(idle_rate[name] * 100, 2),
                "idle_cpu_s_per_1000_orders": round(idle_cpu[side][name] * per_thousand, 1),
                "load_cpu_s_per_1000_orders": round(
                    max(seconds - idle_cpu[side][name], 0.0) * per_thousand, 1
                ),
                "peak_rss_mib": round(
                    next(p.peak_rss for p in [*every, *pipeline.resources()] if p.name == name)
                    / 2**20,
                    1,
                ),
            }
            for name, seconds in spent.items()
        }
    totals = {
        side: sum(v["cpu_s_per_1000_orders"] for v in processes.values())
        for side, processes in resources.items()
    }
    load_totals = {
        side: sum(v["load_cpu_s_per_1000_orders"] for v in processes.values())
        for side, processes in resources.items()
    }
    pipeline_names = {process.name for process in pipeline.resources()}
    services_traced = sum(
        v["cpu_s_per_1000_orders"]
        for name, v in resources.get("traced", {}).items()
        if name not in pipeline_names
    )
    untraced_total = totals.get("untraced") or float("nan")
    return {
        "spans_per_completed_order": (
            round(spans_stored / orders_done["traced"], 1) if orders_done["traced"] else None
        ),
        "spans_stored": spans_stored,
        "span_census": census,
        # Whole-flow CPU per 1,000 orders, traced (services + Collector + Zipkin) ÷ untraced.
        "cpu_ratio": round(totals.get("traced", float("nan")) / untraced_total, 3),
        "cpu_ratio_services_only": round(services_traced / untraced_total, 3),
        # The same with each process's idle CPU taken out: what orders cost, traced ÷ untraced.
        "load_cpu_per_1000_orders": {side: round(v, 1) for side, v in load_totals.items()},
        "cpu_ratio_under_load": round(
            load_totals.get("traced", float("nan")) / (load_totals.get("untraced") or float("nan")),
            3,
        ),
        "idle_window_s": config.idle_s,
        "orders_per_round": config.orders,
        "concurrency": config.concurrency,
        "printers": PRINTERS,
        "trace_storage": pipeline.storage,
        "sides": {
            side: {
                "orders_per_s": summary([r["orders_per_s"] for r in results]),
                "rounds": results,
            }
            for side, results in rounds.items()
        },
        "traced_over_untraced": summary(ratios),
        "resources": resources,
    }


def _idle_cpu_rates(
    processes: list[BenchProcess], seconds: float, pipeline: Pipeline
) -> dict[str, float]:
    """Each process's CPU seconds per second over ``seconds`` with no order in flight.

    Waits first for the Collector and Zipkin to have taken the warm-up's last spans, so the
    window holds only what runs without orders: the outbox relays' and printers' polls, the
    sweepers, metric collection, the JVMs' own housekeeping.
    """
    _settled_spans(pipeline)
    before = {process.name: process.sample().cpu_s for process in processes}
    started = time.monotonic()
    time.sleep(seconds)
    elapsed = time.monotonic() - started
    return {
        process.name: max(process.sample().cpu_s - before[process.name], 0.0) / elapsed
        for process in processes
    }


async def _round_sampling(
    services: ServiceSet, config: FlowConfig, watched: list[BenchProcess]
) -> dict[str, Any]:
    """A round, with every watched process's memory sampled twice a second meanwhile."""

    async def sample_forever() -> None:
        while True:
            for process in watched:
                await asyncio.to_thread(process.sample)
            await asyncio.sleep(0.5)

    sampler = asyncio.create_task(sample_forever())
    try:
        return await _round(services, config)
    finally:
        sampler.cancel()
