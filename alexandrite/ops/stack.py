"""The whole local platform: what runs, in which order, with which configuration.

``bring_up`` is idempotent: it installs what is missing (apt packages, the Zipkin jar, the
Collector build), generates TLS material and secrets once, starts the system servers, creates
and migrates the databases, and hands the platform's processes to supervisord.
"""

from __future__ import annotations

import logging
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from alexandrite.common import platform
from alexandrite.common.migrations import SERVICES, upgrade
from alexandrite.common.settings import local_database_url
from alexandrite.ops import mariadb, postgres, rabbitmq
from alexandrite.ops.apt import ensure_apt_packages
from alexandrite.ops.collector import CollectorSettings, collector_program, ensure_collector_binary
from alexandrite.ops.gateway_bootstrap import DemoLogin, prepare_gateway
from alexandrite.ops.gateway_program import gateway_program
from alexandrite.ops.monitoring import MonitoringSettings, monitoring_programs
from alexandrite.ops.opensearch import (
    ensure_opensearch_installed,
    opensearch_program,
    opensearch_retention_program,
)
from alexandrite.ops.paths import REPO_ROOT, Paths
from alexandrite.ops.postgres_roles import ensure_service_databases
from alexandrite.ops.program import Program
from alexandrite.ops.rabbitmq_cluster import (
    CLUSTER_AMQP_URL,
    ensure_rabbitmq_cluster_running,
    stop_rabbitmq_cluster,
)
from alexandrite.ops.supervisor import Supervisor
from alexandrite.ops.tls import TlsMaterial, ensure_secret, ensure_tls_material
from alexandrite.ops.zipkin import (
    PASSWORD_SECRET as ZIPKIN_PASSWORD_SECRET,
)
from alexandrite.ops.zipkin import (
    ensure_zipkin_jar,
    ensure_zipkin_schema,
    retention_program,
    zipkin_program,
)
from alexandrite.ops.zipkin_dependencies import zipkin_dependencies_program

__all__ = [
    "SERVICE_PROCESSES",
    "StackOptions",
    "TearDownFailed",
    "bring_up",
    "programs",
    "tear_down",
]

_log = logging.getLogger(__name__)

APT_PACKAGES = [
    "rabbitmq-server",
    "postgresql",
    "mariadb-server",
    "prometheus",
    "prometheus-alertmanager",
]
# The services started as one batch here (the notifier and the gateway have their own builders).
SERVICE_PROCESSES = platform.ORDER_SERVICES
OTLP_TOKEN_SECRET = "otlp-token"
# Our services' HTTP clients present it; a service keeps a caller's trace context only with it.
INTERNAL_TOKEN_SECRET = "internal-token"


@dataclass(frozen=True)
class StackOptions:
    """How to run the platform; the defaults are local mode with the demo automation on."""

    automation: bool = True
    tracing: bool = True
    # Zipkin's store (`alexandrite up --store`): MariaDB, OpenSearch (distributed) or memory.
    trace_storage: Literal["mysql", "mem", "opensearch"] = "mysql"
    # MES simulated printers
    printers: int = 4
    failure_rate: float = 0.2
    print_seconds_per_cm3: float = 0.05
    # Collector tail sampling: share of ordinary traces kept, and the slow-trace threshold.
    sampling_percentage: float = 100.0
    latency_threshold_ms: int = 1000
    # Days of traces kept in MariaDB (a job purges older ones every hour).
    retention_days: int = 7
    # Alert thresholds (deploy/prometheus/limits.yml): production, or test-sized limits.
    alert_profile: Literal["production", "test"] = "production"
    # Restart our Python programs even when neither their configuration nor the code changed
    # (a second `up` otherwise leaves running programs alone: alexandrite.ops.supervisor).
    restart_services: bool = False
    # RabbitMQ for the services: the single node, or the 3-node cluster behind HAProxy with
    # quorum queues (alexandrite.ops.rabbitmq_cluster). The single node runs in both cases.
    broker: Literal["single", "cluster"] = "single"


def _telemetry_environment(paths: Paths, tls: TlsMaterial, options: StackOptions) -> dict[str, str]:
    return {
        "ALEXANDRITE_TELEMETRY_ENABLED": "true" if options.tracing else "false",
        "ALEXANDRITE_TELEMETRY_ENDPOINT": (
            f"https://{platform.HOST}:{platform.COLLECTOR.port_of('otlp-grpc')}"
        ),
        "ALEXANDRITE_TELEMETRY_CA_FILE": str(tls.ca_cert),
        "ALEXANDRITE_TELEMETRY_TOKEN_FILE": str(paths.secrets / OTLP_TOKEN_SECRET),
        "ALEXANDRITE_TELEMETRY_INTERNAL_TOKEN_FILE": str(paths.secrets / INTERNAL_TOKEN_SECRET),
        "ALEXANDRITE_TELEMETRY_ENVIRONMENT": "local",
    }


def _service_environment(paths: Paths, tls: TlsMaterial, options: StackOptions) -> dict[str, str]:
    return {
        "ALEXANDRITE_STATE_DIR": str(paths.state),
        "PYTHONUNBUFFERED": "1",
        **_telemetry_environment(paths, tls, options),
    }


def service_programs(paths: Paths, tls: TlsMaterial, options: StackOptions) -> list[Program]:
    common = _service_environment(paths, tls, options)
    automation = {
        "crm": {"CRM_AUTO_APPROVE": str(options.automation).lower()},
        "mes": {
            "MES_SIMULATE_PRINTERS": str(options.automation).lower(),
            "MES_PRINTERS": str(options.printers),
            "MES_FAILURE_RATE": str(options.failure_rate),
            "MES_PRINT_SECONDS_PER_CM3": str(options.print_seconds_per_cm3),
        },
    }
    programs = []
    for process in SERVICE_PROCESSES:
        service = process.name
        prefix = service.upper()
        broker = {}
        if options.broker == "cluster":
            broker = {f"{prefix}_AMQP_URL": CLUSTER_AMQP_URL, f"{prefix}_QUEUE_TYPE": "quorum"}
        programs.append(
            Program(
                name=service,
                command=[sys.executable, "-m", f"alexandrite.{service}"],
                environment={
                    **common,
                    f"{prefix}_PORT": str(process.port),
                    **automation.get(service, {}),
                    **broker,
                },
                directory=REPO_ROOT,
                ready_url=process.ready_url,
                start_timeout=60.0,
                priority=50 if service == "files" else 60,
            )
        )
    return programs


def programs(paths: Paths, tls: TlsMaterial, options: StackOptions) -> list[Program]:
    result = service_programs(paths, tls, options)
    result.append(
        gateway_program(
            paths,
            tls,
            alert_profile=options.alert_profile,
            environment=_telemetry_environment(paths, tls, options),
        )
    )
    result += monitoring_programs(
        paths,
        MonitoringSettings(alert_profile=options.alert_profile),
        notifier_environment=_service_environment(paths, tls, options),
    )
    if options.tracing:
        collector = CollectorSettings(
            sampling_percentage=options.sampling_percentage,
            latency_threshold_ms=options.latency_threshold_ms,
            tls_cert_file=tls.server_cert,
            tls_key_file=tls.server_key,
            tls_ca_file=tls.ca_cert,
            token_file=paths.secrets / OTLP_TOKEN_SECRET,
        )
        result.append(collector_program(paths, collector))
        if options.trace_storage == "opensearch":
            result += [
                opensearch_program(),
                zipkin_program(paths, "elasticsearch"),
                opensearch_retention_program(options.retention_days),
                # Zipkin's dependency page on OpenSearch reads only links a job has written.
                zipkin_dependencies_program(),
            ]
        else:
            result.append(zipkin_program(paths, options.trace_storage))
        if options.trace_storage == "mysql":
            result.append(retention_program(options.retention_days))
    return result


def _timed(step: str, action: Callable[[], object], timings: dict[str, float]) -> None:
    started = time.monotonic()
    _log.info("%s …", step)
    action()
    timings[step] = time.monotonic() - started


def bring_up(
    options: StackOptions, say: Callable[[str], None] = print
) -> tuple[dict[str, float], DemoLogin]:
    """Make the whole platform run; return seconds per step and the demo support login."""
    paths = Paths.from_env().ensure()
    timings: dict[str, float] = {}
    _timed("apt packages", lambda: ensure_apt_packages(APT_PACKAGES), timings)
    say("system packages present")
    ensure_secret(paths, INTERNAL_TOKEN_SECRET)
    tls = ensure_tls_material(paths)
    ensure_secret(paths, OTLP_TOKEN_SECRET)
    _timed("postgresql", postgres.ensure_postgres_running, timings)
    # One role per service, owning its database only (alexandrite.ops.postgres_roles).
    ensure_service_databases(paths)
    _timed("rabbitmq", rabbitmq.ensure_rabbitmq_running, timings)
    if options.broker == "cluster":
        _timed("rabbitmq cluster", lambda: ensure_rabbitmq_cluster_running(paths), timings)
    say("PostgreSQL and RabbitMQ running")
    for service in SERVICES:
        # As the owner of the database, so that new tables are the owner's.
        upgrade(service, local_database_url(f"alexandrite_{service}"))
    # The gateway's application role (no UPDATE/DELETE on the audit log) and the demo user.
    demo_login = prepare_gateway(paths)
    say("databases migrated")
    if options.tracing:
        if options.trace_storage == "mysql":
            _timed("mariadb", mariadb.ensure_mariadb_running, timings)
            mariadb.ensure_mariadb_database(
                "zipkin", "zipkin", ensure_secret(paths, ZIPKIN_PASSWORD_SECRET)
            )
            _timed("zipkin schema", lambda: ensure_zipkin_schema(paths), timings)
        if options.trace_storage == "opensearch":
            _timed("opensearch", lambda: ensure_opensearch_installed(paths), timings)
        _timed("zipkin jar", lambda: ensure_zipkin_jar(paths), timings)
        _timed("collector build", lambda: ensure_collector_binary(paths), timings)
        say("Zipkin and the OpenTelemetry Collector ready to start")
    supervisor = Supervisor(paths)
    wanted = programs(paths, tls, options)
    _timed(
        "supervisor",
        lambda: supervisor.apply(wanted, restart=options.restart_services),
        timings,
    )
    started = time.monotonic()
    waited = supervisor.wait_ready(wanted)
    timings["processes ready"] = time.monotonic() - started
    for name, seconds in waited.items():
        _log.info("%s ready after %.1f s", name, seconds)
    return timings, demo_login


class TearDownFailed(RuntimeError):
    """Some servers did not stop; the others were still stopped."""


def tear_down(everything: bool = False) -> None:
    """Stop the supervised processes; with ``everything``, the system servers too.

    In the reverse order of ``bring_up``: the platform's processes first (they hold connections
    to the servers), then RabbitMQ, PostgreSQL and MariaDB. Each stop is a no-op for a server
    that is not running, so a second call, or one after a server was stopped by hand, succeeds.
    A server that fails to stop does not keep the next ones running: all are tried, then the
    failures are raised together.
    """
    paths = Paths.from_env()
    steps: list[tuple[str, Callable[[], object]]] = [
        ("supervised processes", Supervisor(paths).shutdown)
    ]
    if everything:
        steps += [
            ("RabbitMQ", rabbitmq.stop_rabbitmq),
            ("RabbitMQ cluster", stop_rabbitmq_cluster),
            ("PostgreSQL", postgres.stop_postgres),
            ("MariaDB", mariadb.stop_mariadb),
        ]
    failures: list[str] = []
    for what, stop in steps:
        try:
            stop()
        except Exception as error:  # every server gets its chance to stop
            _log.error("stopping %s failed: %s", what, error)
            failures.append(f"{what}: {error}")
    if failures:
        raise TearDownFailed("; ".join(failures))
