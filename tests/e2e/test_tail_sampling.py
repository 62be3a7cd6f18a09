"""The Collector's tail sampling keeps every error, every slow trace and every order lifecycle,
and a configured share of the rest (here 0 %), on the way to the running Zipkin."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import grpc
import httpx
import pytest
from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.trace import StatusCode

from alexandrite.ops.collector import CollectorSettings, ensure_collector_binary
from alexandrite.ops.paths import Paths
from tests.e2e.zipkin import ZIPKIN
from tests.support.collector import (
    RunningCollector,
    free_port,
    make_ca_and_server_cert,
    running_collector,
)
from tests.support.polling import eventually

pytestmark = pytest.mark.e2e

TOKEN = "tail-sampling-test-token"


@pytest.fixture(scope="module")
def sampling_collector(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningCollector]:
    paths = Paths(state=tmp_path_factory.mktemp("collector"), cache=Paths.from_env().cache).ensure()
    ca, cert, key = make_ca_and_server_cert(paths.tls)
    token_file = paths.secrets / "otlp-token"
    token_file.write_text(TOKEN)
    settings = CollectorSettings(
        otlp_grpc_port=free_port(),
        otlp_http_port=free_port(),
        spanmetrics_port=free_port(),
        metrics_port=free_port(),
        health_port=free_port(),
        zipkin_endpoint=f"{ZIPKIN}/api/v2/spans",
        sampling_percentage=0.0,
        latency_threshold_ms=500,
        decision_wait_seconds=1.0,
        tls_cert_file=cert,
        tls_key_file=key,
        tls_ca_file=ca,
        token_file=token_file,
    )
    binary: Path = ensure_collector_binary(Paths.from_env())
    with running_collector(binary, paths, settings) as running:
        yield running


async def test_errors_slow_traces_and_lifecycles_are_kept_and_the_rest_sampled_away(
    sampling_collector: RunningCollector,
) -> None:
    service = f"tail-sampling-{uuid.uuid4().hex[:8]}"
    exporter = OTLPSpanExporter(
        endpoint=f"https://127.0.0.1:{sampling_collector.settings.otlp_grpc_port}",
        credentials=grpc.ssl_channel_credentials(sampling_collector.ca_file.read_bytes()),
        headers={"authorization": f"Bearer {TOKEN}"},
    )
    provider = TracerProvider(resource=Resource.create({"service.name": service}))
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracer = provider.get_tracer("tail-sampling-test")
    # The ordinary trace goes first: by the time the later ones are visible, its decision
    # (same decision wait) has been made, so its absence is a real drop, not a delay.
    with tracer.start_as_current_span("ordinary"):
        pass
    with tracer.start_as_current_span("failing") as span:
        span.set_status(StatusCode.ERROR, "boom")
    now = time.time_ns()
    slow = tracer.start_span("slow", start_time=now - 2_000_000_000)
    slow.end(end_time=now)
    with tracer.start_as_current_span("order.lifecycle"):
        pass
    provider.shutdown()

    async def kept() -> set[str] | None:
        async with httpx.AsyncClient(timeout=10) as client:
            response = await client.get(
                f"{ZIPKIN}/api/v2/traces",
                params={"serviceName": service, "lookback": 600_000, "limit": 50},
            )
        names = {span["name"] for trace in response.json() for span in trace}
        return names if {"failing", "slow", "order.lifecycle"} <= names else None

    names = await eventually(kept, timeout=30, what="the error, slow and lifecycle traces")
    assert "ordinary" not in names
