"""The OpenTelemetry Collector as a supervised program: its settings, environment and command.

The distribution is built by alexandrite.ops.collector_build (re-exported here) from
deploy/otelcol/builder-config.yaml, and configured by deploy/otelcol/config.yaml, a plain file
whose per-run values are `${env:VAR}`: collector_environment() gives them.

    python -m alexandrite.ops.collector build      # build if needed, print the binary's path
    python -m alexandrite.ops.collector validate   # check config.yaml with the local-mode settings
"""

from __future__ import annotations

import argparse
import logging
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

from alexandrite.common import platform
from alexandrite.ops.collector_build import (
    BUILDER_VERSION,
    COLLECTOR_MANIFEST,
    CollectorBuildError,
    collector_binary_path,
    ensure_collector_binary,
)
from alexandrite.ops.commands import run
from alexandrite.ops.paths import DEPLOY_DIR, Paths
from alexandrite.ops.program import Program

__all__ = [
    "AGENT_CONFIG",
    "BUILDER_VERSION",
    "COLLECTOR_CONFIG",
    "COLLECTOR_MANIFEST",
    "GATEWAY_CONFIG",
    "CollectorBuildError",
    "CollectorSettings",
    "collector_binary_path",
    "collector_environment",
    "collector_program",
    "ensure_collector_binary",
    "validate_collector_config",
]

log = logging.getLogger(__name__)

COLLECTOR_CONFIG = DEPLOY_DIR / "otelcol" / "config.yaml"
# Two tiers (docs/scaling.md): agents run agent.yaml alone; gateways run config.yaml with
# gateway.yaml on top (`--config` twice: the second file's maps merge into the first's).
AGENT_CONFIG = DEPLOY_DIR / "otelcol" / "agent.yaml"
GATEWAY_CONFIG = DEPLOY_DIR / "otelcol" / "gateway.yaml"
# The bearer token file's name under Paths.secrets (the SDK side reads the same file).
TOKEN_SECRET = "otlp-token"


@dataclass(frozen=True)
class CollectorSettings:
    """The per-run values that config.yaml reads from the environment (defaults: local mode)."""

    # Ports and Zipkin's address from the platform spec, read when the settings are made.
    otlp_grpc_port: int = field(default_factory=lambda: platform.COLLECTOR.port_of("otlp-grpc"))
    otlp_http_port: int = field(default_factory=lambda: platform.COLLECTOR.port_of("otlp-http"))
    spanmetrics_port: int = field(default_factory=lambda: platform.COLLECTOR.port_of("spanmetrics"))
    metrics_port: int = field(default_factory=lambda: platform.COLLECTOR.port_of("metrics"))
    health_port: int = field(default_factory=lambda: platform.COLLECTOR.port)
    zipkin_endpoint: str = field(default_factory=lambda: f"{platform.ZIPKIN.url}/api/v2/spans")
    # Every trace with a span longer than this is kept by tail sampling.
    latency_threshold_ms: int = 1000
    # Share of the ordinary (fast, error-free) traces that is kept.
    sampling_percentage: float = 10.0
    decision_wait_seconds: float = 2.0
    memory_limit_mib: int = 512
    log_level: str = "info"
    # None means the conventional file under Paths.tls / Paths.secrets (see collector_environment).
    tls_cert_file: Path | None = None
    tls_key_file: Path | None = None
    tls_ca_file: Path | None = None
    token_file: Path | None = None
    # The sending queue's files (file_storage/queue). None means <state>/otelcol/queue-<OTLP
    # gRPC port>: the same after a restart (the queue is resumed), and distinct for a second
    # Collector next to it (a benchmark's): two cannot share one, the file is locked.
    queue_directory: Path | None = None


def collector_environment(paths: Paths, settings: CollectorSettings) -> dict[str, str]:
    """The variables config.yaml reads, for these paths and settings."""
    return {
        "ALEXANDRITE_OTELCOL_OTLP_GRPC_PORT": str(settings.otlp_grpc_port),
        "ALEXANDRITE_OTELCOL_OTLP_HTTP_PORT": str(settings.otlp_http_port),
        "ALEXANDRITE_OTELCOL_SPANMETRICS_PORT": str(settings.spanmetrics_port),
        "ALEXANDRITE_OTELCOL_METRICS_PORT": str(settings.metrics_port),
        "ALEXANDRITE_OTELCOL_HEALTH_PORT": str(settings.health_port),
        "ALEXANDRITE_OTELCOL_ZIPKIN_ENDPOINT": settings.zipkin_endpoint,
        "ALEXANDRITE_OTELCOL_LATENCY_THRESHOLD_MS": str(settings.latency_threshold_ms),
        "ALEXANDRITE_OTELCOL_SAMPLING_PERCENTAGE": f"{settings.sampling_percentage:g}",
        "ALEXANDRITE_OTELCOL_DECISION_WAIT": f"{int(settings.decision_wait_seconds * 1000)}ms",
        "ALEXANDRITE_OTELCOL_MEMORY_LIMIT_MIB": str(settings.memory_limit_mib),
        "ALEXANDRITE_OTELCOL_MEMORY_SPIKE_MIB": str(max(settings.memory_limit_mib // 4, 1)),
        "ALEXANDRITE_OTELCOL_LOG_LEVEL": settings.log_level,
        "ALEXANDRITE_OTELCOL_TLS_CERT_FILE": str(
            settings.tls_cert_file or paths.tls / "collector.crt"
        ),
        "ALEXANDRITE_OTELCOL_TLS_KEY_FILE": str(
            settings.tls_key_file or paths.tls / "collector.key"
        ),
        "ALEXANDRITE_OTELCOL_TLS_CA_FILE": str(settings.tls_ca_file or paths.tls / "ca.crt"),
        "ALEXANDRITE_OTELCOL_TOKEN_FILE": str(settings.token_file or paths.secrets / TOKEN_SECRET),
        "ALEXANDRITE_OTELCOL_QUEUE_DIR": str(
            settings.queue_directory or paths.state / "otelcol" / f"queue-{settings.otlp_grpc_port}"
        ),
    }


def collector_program(
    paths: Paths,
    settings: CollectorSettings | None = None,
    binary: Path | None = None,
) -> Program:
    """The supervised Collector process. It does not build: call ensure_collector_binary first."""
    settings = settings or CollectorSettings()
    return Program(
        name="otelcol",
        command=[
            str(binary or collector_binary_path(paths)),
            f"--config={COLLECTOR_CONFIG}",
        ],
        environment=collector_environment(paths, settings),
        directory=paths.state,
        ready_url=f"http://{platform.HOST}:{settings.health_port}/",
        start_timeout=30.0,
        # Before the services, so their first spans have somewhere to go.
        priority=30,
    )


def validate_collector_config(
    binary: Path, environment: dict[str, str], config: Path = COLLECTOR_CONFIG
) -> subprocess.CompletedProcess[str]:
    """Run `otelcol validate` on the config with these variables (check=False: read returncode)."""
    return run(
        [str(binary), "validate", f"--config={config}"],
        env=environment,
        check=False,
        timeout=60.0,
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m alexandrite.ops.collector")
    parser.add_argument("action", choices=["build", "validate"])
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    paths = Paths.from_env()
    try:
        binary = ensure_collector_binary(paths)
    except CollectorBuildError as exc:
        print(exc, file=sys.stderr)
        return 1
    if args.action == "build":
        print(binary)
        return 0
    result = validate_collector_config(binary, collector_program(paths).environment)
    sys.stdout.write(result.stdout)
    sys.stderr.write(result.stderr)
    return result.returncode


if __name__ == "__main__":
    sys.exit(main())
