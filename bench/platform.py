"""The benchmark's own servers: databases, a RabbitMQ virtual host, a Collector and a Zipkin,
and service processes, all on free ports next to the shared stack (which is left alone).

The services are the real ones (``python -m alexandrite.<service>``) configured through their
environment, exactly as the supervisor runs them; tracing exports over OTLP/gRPC with TLS and
the bearer token to the benchmark's Collector, which runs deploy/otelcol/config.yaml unchanged
(only its ports, its Zipkin and its sampling share differ).
"""

from __future__ import annotations

import asyncio
import dataclasses
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import httpx

from alexandrite.common import platform
from alexandrite.ops import mariadb
from alexandrite.ops.collector import (
    CollectorSettings,
    collector_program,
    ensure_collector_binary,
)
from alexandrite.ops.opensearch import (
    OpenSearchNode,
    ensure_index_settings,
    ensure_opensearch_installed,
    opensearch_program,
)
from alexandrite.ops.paths import REPO_ROOT, Paths
from alexandrite.ops.program import Program
from alexandrite.ops.scratch_database import fresh_database
from alexandrite.ops.stack import INTERNAL_TOKEN_SECRET
from alexandrite.ops.tls import TlsMaterial, ensure_secret
from alexandrite.ops.zipkin import (
    ZipkinDatabase,
    ensure_zipkin_jar,
    ensure_zipkin_schema,
    zipkin_program,
)
from bench.processes import BenchProcess, free_port

__all__ = [
    "BENCH_VHOST",
    "Pipeline",
    "bench_amqp_url",
    "fresh_databases",
    "prometheus_values",
    "running_pipeline",
    "service_process",
]

BENCH_VHOST = "alexandrite-bench"
PREFIX = {"shop": "SHOP", "crm": "CRM", "mes": "MES", "files": "FILES"}
ZIPKIN_BENCH_DB = "zipkin_bench"
_TOKEN_SECRET = "otlp-token"


def bench_paths() -> Paths:
    return Paths.from_env().ensure()


def bench_dir() -> Path:
    directory = bench_paths().state / "bench"
    directory.mkdir(parents=True, exist_ok=True)
    return directory


def fresh_databases(
    services: tuple[str, ...] = ("shop", "crm", "mes", "files"), suffix: str = "bench"
) -> dict[str, str]:
    """Drop, create and migrate ``alexandrite_<service>_<suffix>``; return their URLs."""

    async def all_of_them() -> dict[str, str]:
        return {service: await fresh_database(service, suffix) for service in services}

    return asyncio.run(all_of_them())


def bench_amqp_url(vhost: str = BENCH_VHOST) -> str:
    """A fresh virtual host, so leftover queues of an earlier run hold no old messages."""
    for command in (
        ["rabbitmqctl", "-q", "delete_vhost", vhost],
        ["rabbitmqctl", "-q", "add_vhost", vhost],
        ["rabbitmqctl", "-q", "set_permissions", "-p", vhost, "guest", ".*", ".*", ".*"],
    ):
        # A broker that a test just restarted answers the CLI before its vhost service: retry.
        for attempt in range(20):
            done = subprocess.run(command, check=False, capture_output=True, text=True)
            if done.returncode == 0 or command[2] == "delete_vhost":
                break
            if attempt == 19:
                raise RuntimeError(f"{' '.join(command)} failed: {done.stdout}{done.stderr}")
            time.sleep(1.5)
    return f"amqp://guest:guest@{platform.HOST}:{platform.RABBITMQ.port}/{vhost}"


def prometheus_values(text: str, metric: str) -> float:
    """The sum of every series of ``metric`` (any labels) in a Prometheus text exposition."""
    pattern = re.compile(rf"^{re.escape(metric)}(?:\{{[^}}]*\}})?\s+(\S+)", re.MULTILINE)
    return sum(float(value) for value in pattern.findall(text))


@dataclass
class Pipeline:
    """A Collector and a Zipkin of the benchmark's own."""

    collector: BenchProcess
    zipkin: BenchProcess
    settings: CollectorSettings
    zipkin_port: int
    storage: Literal["mysql", "mem", "elasticsearch"]
    db: ZipkinDatabase | None
    ca_file: Path
    token_file: Path
    # The OpenSearch node of the `elasticsearch` storage, and its process.
    opensearch: OpenSearchNode | None = None
    opensearch_process: BenchProcess | None = None

    @property
    def otlp_endpoint(self) -> str:
        return f"127.0.0.1:{self.settings.otlp_grpc_port}"

    @property
    def zipkin_url(self) -> str:
        return f"http://127.0.0.1:{self.zipkin_port}"

    def telemetry_environment(
        self, sample_ratio: float = 1.0, schedule_delay_ms: int | None = None
    ) -> dict[str, str]:
        """What a service needs to export here: alexandrite.ops.stack's variables, our port."""
        delay = (
            {}
            if schedule_delay_ms is None
            else {"ALEXANDRITE_TELEMETRY_SCHEDULE_DELAY_MS": str(schedule_delay_ms)}
        )
        return delay | {
            "ALEXANDRITE_TELEMETRY_ENABLED": "true",
            "ALEXANDRITE_TELEMETRY_ENDPOINT": f"https://{self.otlp_endpoint}",
            "ALEXANDRITE_TELEMETRY_CA_FILE": str(self.ca_file),
            "ALEXANDRITE_TELEMETRY_TOKEN_FILE": str(self.token_file),
            # Our services' credential to one another (trust boundary): without it the file
            # storage starts a new trace, without order.id, for every call from the Shop or CRM.
            "ALEXANDRITE_TELEMETRY_INTERNAL_TOKEN_FILE": str(
                self.token_file.with_name(INTERNAL_TOKEN_SECRET)
            ),
            "ALEXANDRITE_TELEMETRY_ENVIRONMENT": "bench",
            "ALEXANDRITE_TELEMETRY_SAMPLE_RATIO": f"{sample_ratio:g}",
        }

    def collector_metrics(self) -> str:
        url = f"http://127.0.0.1:{self.settings.metrics_port}/metrics"
        return httpx.get(url, timeout=10.0).text

    def zipkin_metrics(self) -> str:
        return httpx.get(f"{self.zipkin_url}/prometheus", timeout=10.0).text

    def stored_spans(self, refresh: bool = False) -> int:
        """Spans in Zipkin's storage: rows for MariaDB, span documents for OpenSearch (those
        searchable: after its periodic refresh, or at once with ``refresh``); accepted minus
        dropped for memory."""
        if self.db is not None:
            return int(self.db.query("SELECT COUNT(*) FROM zipkin_spans;")[0][0])
        if self.opensearch is not None:
            if refresh:
                httpx.post(
                    f"{self.opensearch.url}/zipkin-span-*/_refresh",
                    params={"allow_no_indices": "true"},
                    timeout=60.0,
                )
            # A day's index that Zipkin just created answers 503 until its shard is started.
            for _ in range(40):
                response = httpx.get(
                    f"{self.opensearch.url}/zipkin-span-*/_count",
                    params={"allow_no_indices": "true"},
                    timeout=10.0,
                )
                if response.status_code != 503:
                    break
                time.sleep(0.25)
            response.raise_for_status()
            return int(response.json()["count"])
        text = self.zipkin_metrics()
        return int(
            prometheus_values(text, "zipkin_collector_spans_total")
            - prometheus_values(text, "zipkin_collector_spans_dropped_total")
        )

    def clear(self) -> None:
        if self.opensearch is not None:
            httpx.delete(
                f"{self.opensearch.url}/zipkin*", params={"expand_wildcards": "all"}, timeout=60
            )
        if self.db is not None:
            self.db.query(
                "TRUNCATE zipkin_spans; TRUNCATE zipkin_annotations; TRUNCATE zipkin_dependencies;"
            )

    def resources(self) -> list[BenchProcess]:
        store = [self.opensearch_process] if self.opensearch_process is not None else []
        return [self.collector, self.zipkin, *store]


def _zipkin_database(paths: Paths) -> ZipkinDatabase:
    password = ensure_secret(paths, "zipkin-bench-db-password")
    mariadb.ensure_mariadb_running()
    mariadb.ensure_mariadb_database(ZIPKIN_BENCH_DB, ZIPKIN_BENCH_DB, password)
    db = ZipkinDatabase(password=password, name=ZIPKIN_BENCH_DB, user=ZIPKIN_BENCH_DB)
    ensure_zipkin_schema(paths, db)
    return db


@contextmanager
def running_pipeline(
    storage: Literal["mysql", "mem", "elasticsearch"],
    *,
    sampling_percentage: float = 100.0,
    mem_max_spans: int = 1_000_000,
    zipkin_heap: str = "1g",
    decision_wait_s: float | None = None,
    tag: str = "",
    zipkin_environment: dict[str, str] | None = None,
    zipkin_arguments: tuple[str, ...] = (),
) -> Iterator[Pipeline]:
    """A Collector (our config) and a Zipkin on free ports, stopped when the block ends.

    ``zipkin_environment`` and ``zipkin_arguments`` are added to Zipkin's own (experiments
    with its storage settings, e.g. the throttle)."""
    paths = bench_paths()
    tls = TlsMaterial.at(paths)
    token_file = paths.secrets / _TOKEN_SECRET
    if not (tls.ca_cert.exists() and token_file.exists()):
        raise RuntimeError("TLS material or the OTLP token is missing: run `alexandrite up` first")
    log_dir = bench_dir() / "logs"
    db = _zipkin_database(paths) if storage == "mysql" else None
    node = opensearch = None
    if storage == "elasticsearch":
        # A node of the benchmark's own (its own ports and data), like its Collector and Zipkin.
        node = OpenSearchNode(name="bench", http_port=free_port(), transport_port=free_port())
        ensure_opensearch_installed(paths, node)
        opensearch = BenchProcess(opensearch_program(node), log_dir)
    zipkin_port = free_port()
    program = zipkin_program(
        paths,
        storage,
        port=zipkin_port,
        db=db,
        jar=ensure_zipkin_jar(paths),
        opensearch_url=node.url if node else platform.OPENSEARCH.url,
    )
    command = [
        f"-Xmx{zipkin_heap}" if part.startswith("-Xmx") else part for part in program.command
    ] + list(zipkin_arguments)
    environment = dict(program.environment) | (zipkin_environment or {})
    if storage == "mem":
        environment["MEM_MAX_SPANS"] = str(mem_max_spans)
    zipkin = BenchProcess(
        dataclasses.replace(program, name=f"zipkin{tag}", command=command, environment=environment),
        log_dir,
    )
    settings = CollectorSettings(
        otlp_grpc_port=free_port(),
        otlp_http_port=free_port(),
        spanmetrics_port=free_port(),
        metrics_port=free_port(),
        health_port=free_port(),
        zipkin_endpoint=f"http://127.0.0.1:{zipkin_port}/api/v2/spans",
        sampling_percentage=sampling_percentage,
        decision_wait_seconds=(
            decision_wait_s
            if decision_wait_s is not None
            else CollectorSettings.decision_wait_seconds
        ),
        tls_cert_file=tls.server_cert,
        tls_key_file=tls.server_key,
        tls_ca_file=tls.ca_cert,
        token_file=token_file,
        log_level="warn",
    )
    collector = BenchProcess(
        dataclasses.replace(
            collector_program(paths, settings, binary=ensure_collector_binary(paths)),
            name=f"otelcol{tag}",
        ),
        log_dir,
    )
    pipeline = Pipeline(
        collector=collector,
        zipkin=zipkin,
        settings=settings,
        zipkin_port=zipkin_port,
        storage=storage,
        db=db,
        ca_file=tls.ca_cert,
        token_file=token_file,
        opensearch=node,
        opensearch_process=opensearch,
    )
    try:
        if opensearch is not None:
            opensearch.start()
            opensearch.wait_ready()
        pipeline.clear()
        if node is not None:
            # What the platform's retention job keeps in place (alexandrite.ops.opensearch).
            ensure_index_settings(node.url)
        zipkin.start()
        collector.start()
        collector.wait_ready()
        zipkin.wait_ready()
        yield pipeline
    finally:
        collector.stop()
        zipkin.stop()
        if opensearch is not None:
            opensearch.stop()


def service_process(
    service: str,
    *,
    name: str | None = None,
    port: int | None = None,
    database_url: str,
    amqp_url: str,
    telemetry: dict[str, str] | None,
    extra: dict[str, str] | None = None,
) -> BenchProcess:
    """One service as ``python -m alexandrite.<service>``; ``telemetry=None``: tracing off."""
    prefix = PREFIX[service]
    port = port or free_port()
    directory = bench_dir()
    environment = {
        "PYTHONUNBUFFERED": "1",
        f"{prefix}_PORT": str(port),
        f"{prefix}_DATABASE_URL": database_url,
        f"{prefix}_AMQP_URL": amqp_url,
        # Never obey the faults someone switched on in the shared stack.
        f"{prefix}_FAULTS_FILE": str(directory / "faults.json"),
        f"{prefix}_LOG_LEVEL": "WARNING",
        # PostgreSQL allows 100 connections for everyone on this machine: up to 2 × 3 each.
        f"{prefix}_DB_POOL_SIZE": "3",
        **(telemetry or {"ALEXANDRITE_TELEMETRY_ENABLED": "false"}),
        **(extra or {}),
    }
    program = Program(
        name=name or service,
        command=[sys.executable, "-m", f"alexandrite.{service}"],
        environment=environment,
        directory=REPO_ROOT,
        ready_url=f"http://127.0.0.1:{port}/ready",
        start_timeout=90.0,
    )
    return BenchProcess(program, directory / "logs")


def service_url(process: BenchProcess) -> str:
    assert process.program.ready_url is not None
    return process.program.ready_url.removesuffix("/ready")
