"""The real Collector build: its config validates, and OTLP needs TLS and the right bearer token.

The binary is built once (minutes when cold, cached in Paths.cache afterwards). Each test run
makes its own throwaway CA and server certificate with openssl, and starts the Collector on free
ports, so it never clashes with a local-mode Collector on the default ports.
"""

from __future__ import annotations

import ssl
import subprocess
from collections.abc import Iterator
from pathlib import Path

import grpc
import httpx
import pytest
from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExportResult
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from alexandrite.ops.collector import (
    CollectorSettings,
    collector_program,
    ensure_collector_binary,
    validate_collector_config,
)
from alexandrite.ops.paths import Paths
from tests.support.collector import (
    RunningCollector,
    free_port,
    make_ca_and_server_cert,
    running_collector,
)

# The first test pays for a cold build of the Collector (several minutes on 2 cores).
pytestmark = pytest.mark.timeout(40 * 60)

TOKEN = "test-token-5b1f0c9e2d"
# A minimal OTLP/JSON trace: one server span of a fictitious shop request.
TRACE = {
    "resourceSpans": [
        {
            "resource": {
                "attributes": [{"key": "service.name", "value": {"stringValue": "shop-api"}}]
            },
            "scopeSpans": [
                {
                    "scope": {"name": "test"},
                    "spans": [
                        {
                            "traceId": "5b8efff798038103d269b633813fc60c",
                            "spanId": "eee19b7ec3c1b174",
                            "name": "POST /api/v1/orders",
                            "kind": 2,
                            "startTimeUnixNano": "1764300000000000000",
                            "endTimeUnixNano": "1764300000050000000",
                            "attributes": [
                                {"key": "http.route", "value": {"stringValue": "/api/v1/orders"}}
                            ],
                        }
                    ],
                }
            ],
        }
    ]
}


@pytest.fixture(scope="session")
def collector_binary() -> Path:
    return ensure_collector_binary(Paths.from_env())


@pytest.fixture
def test_paths(tmp_path: Path) -> Paths:
    # Our own state dir (certificates, token, logs); the real build cache.
    return Paths(state=tmp_path / "state", cache=Paths.from_env().cache).ensure()


@pytest.fixture
def settings(test_paths: Paths) -> CollectorSettings:
    ca, cert, key = make_ca_and_server_cert(test_paths.tls)
    token_file = test_paths.secrets / "collector-token"
    token_file.write_text(TOKEN + "\n", encoding="utf-8")
    token_file.chmod(0o600)
    return CollectorSettings(
        otlp_grpc_port=free_port(),
        otlp_http_port=free_port(),
        spanmetrics_port=free_port(),
        metrics_port=free_port(),
        health_port=free_port(),
        # Nothing listens there: the exporter queues and retries without blocking anything.
        zipkin_endpoint=f"http://127.0.0.1:{free_port()}/api/v2/spans",
        tls_cert_file=cert,
        tls_key_file=key,
        tls_ca_file=ca,
        token_file=token_file,
    )


@pytest.fixture
def collector(
    collector_binary: Path, test_paths: Paths, settings: CollectorSettings
) -> Iterator[RunningCollector]:
    with running_collector(collector_binary, test_paths, settings) as running:
        yield running


def _https_post(running: RunningCollector, token: str) -> httpx.Response:
    context = ssl.create_default_context(cafile=str(running.ca_file))
    return httpx.post(
        f"https://127.0.0.1:{running.settings.otlp_http_port}/v1/traces",
        json=TRACE,
        headers={"Authorization": f"Bearer {token}"},
        verify=context,
        timeout=10.0,
    )


def test_the_collector_config_validates(
    collector_binary: Path, test_paths: Paths, settings: CollectorSettings
) -> None:
    program = collector_program(test_paths, settings, binary=collector_binary)
    result = validate_collector_config(collector_binary, program.environment)
    assert result.returncode == 0, result.stderr + result.stdout


def test_the_collector_refuses_a_config_without_a_certificate(
    collector_binary: Path, test_paths: Paths, settings: CollectorSettings
) -> None:
    # Fails closed: an unset certificate must not silently turn into a plaintext receiver.
    environment = collector_program(test_paths, settings, binary=collector_binary).environment
    environment |= {"ALEXANDRITE_OTELCOL_TLS_CERT_FILE": "", "ALEXANDRITE_OTELCOL_TLS_KEY_FILE": ""}
    result = validate_collector_config(collector_binary, environment)
    assert result.returncode != 0
    assert "must include both certificate and key" in result.stderr + result.stdout


def test_the_collector_has_every_component_the_config_needs(collector_binary: Path) -> None:
    listing = subprocess.run(
        [str(collector_binary), "components"], capture_output=True, text=True, check=True
    ).stdout
    for name in (
        "otlp", "memory_limiter", "transform", "redaction", "tail_sampling", "batch",
        "span_metrics", "forward", "zipkin", "prometheus", "health_check", "bearertokenauth",
        "file_storage", "load_balancing", "otlp_grpc", "file",
    ):  # fmt: skip
        assert f"name: {name}\n" in listing, name


def test_plaintext_otlp_is_refused(collector: RunningCollector) -> None:
    url = f"http://127.0.0.1:{collector.settings.otlp_http_port}/v1/traces"
    try:
        response = httpx.post(url, json=TRACE, headers={"Authorization": f"Bearer {TOKEN}"})
    except httpx.TransportError:
        return  # refused at the connection or TLS level: fine
    # Go's TLS server answers a plaintext request with a bare 400 and accepts nothing.
    assert response.status_code == 400
    assert "HTTPS" in response.text


def test_otlp_with_a_wrong_bearer_token_gets_401(collector: RunningCollector) -> None:
    assert _https_post(collector, "not-the-token").status_code == 401


def test_otlp_without_a_token_gets_401(collector: RunningCollector) -> None:
    context = ssl.create_default_context(cafile=str(collector.ca_file))
    response = httpx.post(
        f"https://127.0.0.1:{collector.settings.otlp_http_port}/v1/traces",
        json=TRACE,
        verify=context,
    )
    assert response.status_code == 401


def test_otlp_over_tls_with_the_right_bearer_token_gets_200(collector: RunningCollector) -> None:
    response = _https_post(collector, TOKEN)
    assert response.status_code == 200, response.text


def _grpc_export(running: RunningCollector, token: str) -> SpanExportResult:
    """Export one span the way the services do: the SDK's OTLP/gRPC exporter over TLS."""
    memory = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(memory))
    with provider.get_tracer("test").start_as_current_span("grpc-check"):
        pass
    spans: list[ReadableSpan] = list(memory.get_finished_spans())
    exporter = OTLPSpanExporter(
        endpoint=f"https://127.0.0.1:{running.settings.otlp_grpc_port}",
        credentials=grpc.ssl_channel_credentials(running.ca_file.read_bytes()),
        headers={"authorization": f"Bearer {token}"},
        timeout=10,
    )
    try:
        return exporter.export(spans)
    finally:
        exporter.shutdown()


def test_otlp_grpc_over_tls_with_the_right_bearer_token_is_accepted(
    collector: RunningCollector,
) -> None:
    assert _grpc_export(collector, TOKEN) is SpanExportResult.SUCCESS


def test_otlp_grpc_with_a_wrong_bearer_token_is_refused(collector: RunningCollector) -> None:
    # UNAUTHENTICATED is not retried by the SDK, so this fails at once rather than after retries.
    assert _grpc_export(collector, "not-the-token") is SpanExportResult.FAILURE
