"""Load for pipeline tests: telemetrygen (the Collector project's generator, built into the cache
by bench.pipeline) sending OTLP/gRPC over TLS with our bearer token, and span counting in Zipkin.

The generator's SDK queue is raised (OTEL_BSP_MAX_QUEUE_SIZE) so that while a Collector restarts
the generator holds and retries its spans instead of dropping them: what a test then finds
missing was lost by the pipeline, not by the client.
"""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path

import httpx

SPANS_PER_TRACE = 10


@dataclass(frozen=True)
class Load:
    traces: int
    spans_per_second: float
    service: str

    @property
    def spans(self) -> int:
        return self.traces * SPANS_PER_TRACE


def telemetrygen_command(
    binary: Path, endpoint: str, ca_file: Path, token_file: Path, load: Load
) -> list[str]:
    token = token_file.read_text().strip()
    return [
        str(binary), "traces",
        "--otlp-endpoint", endpoint,
        "--ca-cert", str(ca_file),
        "--otlp-header", f'authorization="Bearer {token}"',
        "--workers", "1",
        "--traces", str(load.traces),
        # telemetrygen's rate limiter counts spans, not traces.
        "--rate", f"{load.spans_per_second:g}",
        "--child-spans", str(SPANS_PER_TRACE - 1),
        "--service", load.service,
    ]  # fmt: skip


GENERATOR_ENVIRONMENT = {"OTEL_BSP_MAX_QUEUE_SIZE": "200000"}


def run_generator(command: list[str], log: Path, timeout: float) -> None:
    with log.open("ab") as output:
        subprocess.run(
            command,
            env={**GENERATOR_ENVIRONMENT, "PATH": "/usr/bin:/bin"},
            stdout=output,
            stderr=subprocess.STDOUT,
            timeout=timeout,
            check=True,
        )


def zipkin_span_ids(zipkin_url: str, service: str, limit: int) -> dict[str, set[str]]:
    """Span ids per trace id of `service` stored in Zipkin (distinct: duplicates count once)."""
    response = httpx.get(
        f"{zipkin_url}/api/v2/traces",
        params={"serviceName": service, "limit": limit, "lookback": 3_600_000},
        timeout=30,
    )
    response.raise_for_status()
    found: dict[str, set[str]] = {}
    for trace in response.json():
        for span in trace:
            found.setdefault(span["traceId"], set()).add(span["id"])
    return found
