"""Benchmark 1: what tracing costs a request (order create on the Shop, model upload on the file
storage): traced ÷ untraced throughput, and the p99 latency tracing adds.

Two (or three) instances of the same service run side by side against the same database and
broker, one with tracing off and one exporting every span to the benchmark's Collector; rounds
alternate between them (ABBA), so a machine that gets busier or a table that grows weighs on
both sides alike. Throughput comes from a closed loop at saturation; latency from an open loop
at half the untraced throughput, where latency is service time rather than queueing.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx

from alexandrite.files.samples import SampleKind, sample_bytes
from bench.load import Request, RoundResult, at_rate, saturate
from bench.platform import Pipeline, bench_dir, service_process, service_url
from bench.processes import BenchProcess
from bench.profile import Profiler
from bench.stats import summary

__all__ = ["OverheadConfig", "run_overhead"]


@dataclass(frozen=True)
class OverheadConfig:
    pairs: int = 4
    round_s: float = 4.0
    concurrency: int = 16
    # Open-loop rate as a share of the untraced throughput.
    load_share: float = 0.5


def order_create(base_url: str) -> Request:
    async def send(client: httpx.AsyncClient, number: int) -> None:
        response = await client.post(
            f"{base_url}/api/v1/orders",
            json={
                "customer": {"name": f"Bench {number}", "email": f"b{number}@bench.example"},
                "material": "PLA",
                "quantity": 1,
            },
        )
        assert response.status_code == 201, _failure(response)

    return send


def _failure(response: httpx.Response) -> str:
    """A refused request as its status and the problem's title or detail (what the bench
    reports per reason), e.g. '503 3 models are being analysed or waiting; try again shortly'."""
    try:
        problem = response.json()
        reason = str(problem.get("detail") or problem.get("title") or "")
    except (ValueError, AttributeError):
        reason = response.text
    return f"{response.status_code} {reason}"[:120]


def model_upload(base_url: str) -> Request:
    body = sample_bytes(SampleKind.CUBE_STL)

    async def send(client: httpx.AsyncClient, number: int) -> None:
        response = await client.post(
            f"{base_url}/api/v1/models",
            files={"file": ("cube-20mm.stl", body, "application/octet-stream")},
        )
        assert response.status_code == 201, _failure(response)

    return send


def _alternate(sides: list[str], pairs: int) -> list[str]:
    """ABBA… order: each side goes first as often as the other."""
    order: list[str] = []
    for pair in range(pairs):
        order += sides if pair % 2 == 0 else list(reversed(sides))
    return order


def compare(
    urls: dict[str, str],
    make_request: Callable[[str], Request],
    config: OverheadConfig,
    baseline: str = "untraced",
) -> dict[str, Any]:
    """Alternate rounds between every side and the baseline; ratios and added latency."""
    requests = {side: make_request(url) for side, url in urls.items()}
    throughput: dict[str, list[RoundResult]] = {side: [] for side in urls}
    others = [side for side in urls if side != baseline]
    for side in _alternate([baseline, *others], config.pairs):
        throughput[side].append(
            asyncio.run(
                saturate(requests[side], concurrency=config.concurrency, seconds=config.round_s)
            )
        )
    base_rate = min(r.throughput for r in throughput[baseline]) * config.load_share
    latency: dict[str, list[RoundResult]] = {side: [] for side in urls}
    for side in _alternate([baseline, *others], config.pairs):
        latency[side].append(
            asyncio.run(at_rate(requests[side], rate=base_rate, seconds=config.round_s))
        )
    result: dict[str, Any] = {
        "concurrency": config.concurrency,
        "round_s": config.round_s,
        "open_loop_rate": round(base_rate, 1),
        "sides": {},
        "comparisons": {},
    }
    for side in urls:
        result["sides"][side] = {
            "throughput_rps": summary([r.throughput for r in throughput[side]]),
            "p50_ms": summary([r.latency_ms(0.5) for r in latency[side]]),
            "p99_ms": summary([r.latency_ms(0.99) for r in latency[side]]),
            "errors": sum(r.errors for r in itertools.chain(throughput[side], latency[side])),
            "failures": {
                "closed_loop": _reasons(throughput[side]),
                "open_loop": _reasons(latency[side]),
            },
        }
    for side in others:
        result["comparisons"][f"{side} / {baseline}"] = {
            "throughput_ratio": summary(
                [
                    a.throughput / b.throughput
                    for a, b in zip(throughput[side], throughput[baseline], strict=True)
                ]
            ),
            "p99_added_ms": summary(
                [
                    a.latency_ms(0.99) - b.latency_ms(0.99)
                    for a, b in zip(latency[side], latency[baseline], strict=True)
                ]
            ),
            "p50_added_ms": summary(
                [
                    a.latency_ms(0.5) - b.latency_ms(0.5)
                    for a, b in zip(latency[side], latency[baseline], strict=True)
                ]
            ),
        }
    return result


def _reasons(rounds: list[RoundResult]) -> dict[str, int]:
    total: Counter[str] = Counter()
    for result in rounds:
        total.update(result.failures)
    return dict(total.most_common())


def _start_all(processes: list[BenchProcess]) -> None:
    for process in processes:
        process.start()
    for process in processes:
        process.wait_ready()


def _recording(
    profiler: Profiler | None, benchmark: str, processes: list[BenchProcess]
) -> contextlib.AbstractContextManager[None]:
    if profiler is None:
        return contextlib.nullcontext()
    return profiler.recording(benchmark, processes)


def run_overhead(
    pipeline: Pipeline,
    databases: dict[str, str],
    amqp_url: str,
    config: OverheadConfig,
    head_sampling: float | None = 0.1,
    profiler: Profiler | None = None,
) -> dict[str, Any]:
    """Order create (Shop) and model upload (file storage), traced and untraced."""
    variants: dict[str, dict[str, str] | None] = {
        "untraced": None,
        "traced": pipeline.telemetry_environment(1.0),
    }
    if head_sampling is not None:
        variants[f"traced {head_sampling:.0%} head"] = pipeline.telemetry_environment(head_sampling)
    # The same spans over OTLP/HTTP + protobuf (TLS, bearer token) instead of OTLP/gRPC.
    variants["traced http"] = pipeline.telemetry_environment(1.0) | {
        "ALEXANDRITE_TELEMETRY_PROTOCOL": "http/protobuf",
        "ALEXANDRITE_TELEMETRY_HTTP_ENDPOINT": (
            f"https://127.0.0.1:{pipeline.settings.otlp_http_port}/v1/traces"
        ),
    }
    shops = {
        side: service_process(
            "shop",
            name=f"shop-{side.replace(' ', '-').replace('%', '')}",
            database_url=databases["shop"],
            amqp_url=amqp_url,
            telemetry=telemetry,
        )
        for side, telemetry in variants.items()
    }
    files = {
        side: service_process(
            "files",
            name=f"files-{side}",
            database_url=databases["files"],
            amqp_url=amqp_url,
            telemetry=variants[side],
            extra={"FILES_STORAGE_DIR": str(bench_dir() / "models" / side)},
        )
        for side in ("untraced", "traced")
    }
    processes = [*shops.values(), *files.values()]
    try:
        _start_all(processes)
        with _recording(profiler, "create", list(shops.values())):
            create = compare(
                {side: service_url(process) for side, process in shops.items()},
                order_create,
                config,
            )
        for process in shops.values():
            process.stop()
        with _recording(profiler, "upload", list(files.values())):
            upload = compare(
                {side: service_url(process) for side, process in files.items()},
                model_upload,
                OverheadConfig(
                    pairs=config.pairs,
                    round_s=config.round_s,
                    concurrency=max(config.concurrency // 2, 2),
                    load_share=config.load_share,
                ),
            )
    finally:
        for process in processes:
            process.stop()
    return {"order_create": create, "model_upload": upload}
