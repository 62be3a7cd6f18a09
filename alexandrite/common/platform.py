"""The platform's processes and the ports they listen on in local mode, described once
(DESIGN.md §7).

``alexandrite up``, the services' settings defaults, the CLI's "where to look", the tests and the
benchmarks read ports and ready URLs from here. A port is overridden by one environment
variable, ``ALEXANDRITE_PORT_<PROCESS>`` for a process's main port and
``ALEXANDRITE_PORT_<PROCESS>_<LISTENER>`` for another listener (``ALEXANDRITE_PORT_SHOP=9001``,
``ALEXANDRITE_PORT_OTELCOL_HEALTH=23133``), read when asked, never cached.

Every listener binds 127.0.0.1 (the project's rule). No I/O here but reading the environment.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

__all__ = [
    "ALERTMANAGER",
    "COLLECTOR",
    "CRM",
    "FILES",
    "GATEWAY",
    "HOST",
    "MARIADB",
    "MES",
    "NOTIFIER",
    "OPENSEARCH",
    "ORDER_SERVICES",
    "POSTGRESQL",
    "PROCESSES",
    "PROMETHEUS",
    "RABBITMQ",
    "SERVICES",
    "SHOP",
    "ZIPKIN",
    "Process",
    "port_variable",
]

HOST = "127.0.0.1"


def port_variable(process: str, listener: str | None = None) -> str:
    """The environment variable that overrides a port: ALEXANDRITE_PORT_SHOP, …_OTELCOL_HEALTH."""
    parts = [process] if listener is None else [process, listener]
    return "ALEXANDRITE_PORT_" + "_".join(p.upper().replace("-", "_") for p in parts)


def _port_from_env(variable: str, default: int) -> int:
    raw = os.environ.get(variable)
    if raw is None or raw == "":
        return default
    try:
        port = int(raw)
    except ValueError:
        raise ValueError(f"{variable}={raw!r} is not a port number") from None
    if not 1 <= port <= 65535:
        raise ValueError(f"{variable}={port} is outside 1..65535")
    return port


def _no_listeners() -> Mapping[str, int]:
    return MappingProxyType({})


@dataclass(frozen=True)
class Process:
    """One process of the platform: its supervisor name, main port and how to ask if it is ready."""

    name: str
    default_port: int
    # Path of the readiness probe on the main port; None for servers we only reach over TCP.
    ready_path: str | None = "/ready"
    scheme: str = "http"
    # Its other listeners, by name, with their default ports.
    listeners: Mapping[str, int] = field(default_factory=_no_listeners)

    @property
    def port(self) -> int:
        return _port_from_env(port_variable(self.name), self.default_port)

    def port_of(self, listener: str) -> int:
        """The port of one of its other listeners (KeyError for a name it does not have)."""
        return _port_from_env(port_variable(self.name, listener), self.listeners[listener])

    @property
    def url(self) -> str:
        return f"{self.scheme}://{HOST}:{self.port}"

    @property
    def ready_url(self) -> str | None:
        return None if self.ready_path is None else self.url + self.ready_path

    def ports(self) -> dict[str, int]:
        """Every port it opens, the main one under its own name."""
        return {
            self.name: self.port,
            **{f"{self.name} {name}": self.port_of(name) for name in self.listeners},
        }


# Our services (the Python programs `alexandrite up` supervises).
SHOP = Process("shop", 8001)
CRM = Process("crm", 8002)
MES = Process("mes", 8003)
FILES = Process("files", 8004)
NOTIFIER = Process("notifier", 8005)
GATEWAY = Process("gateway", 8443, scheme="https")
# Telemetry and monitoring.
COLLECTOR = Process(
    "otelcol",
    13133,  # its health check extension, the port it is probed on
    ready_path="/",
    listeners=MappingProxyType(
        {"otlp-grpc": 4317, "otlp-http": 4318, "metrics": 8888, "spanmetrics": 8889}
    ),
)
ZIPKIN = Process("zipkin", 9411, ready_path="/health")
PROMETHEUS = Process("prometheus", 9090, ready_path="/-/ready")
ALERTMANAGER = Process("alertmanager", 9093, ready_path="/-/ready")
# System servers (started by their own units; reached over TCP).
RABBITMQ = Process(
    "rabbitmq",
    5672,
    ready_path=None,
    scheme="amqp",
    listeners=MappingProxyType({"management": 15672, "metrics": 15692}),
)
POSTGRESQL = Process("postgresql", 5432, ready_path=None, scheme="postgresql")
MARIADB = Process("mariadb", 3306, ready_path=None, scheme="mysql")
# Zipkin's distributed store (`alexandrite up --store opensearch`), local mode's node.
OPENSEARCH = Process(
    "opensearch", 9200, ready_path=None, listeners=MappingProxyType({"transport": 9300})
)

# The order platform's services: each runs as ``python -m alexandrite.<name>`` from the same
# environment (a new one is its folder plus a line here); the notifier and the gateway have
# their own setup in ``alexandrite up``.
ORDER_SERVICES: tuple[Process, ...] = (SHOP, CRM, MES, FILES)
SERVICES: tuple[Process, ...] = (*ORDER_SERVICES, NOTIFIER, GATEWAY)
# What a plain `alexandrite up` opens (OpenSearch only with --store opensearch).
PROCESSES: tuple[Process, ...] = (
    *SERVICES,
    COLLECTOR,
    ZIPKIN,
    PROMETHEUS,
    ALERTMANAGER,
    RABBITMQ,
    POSTGRESQL,
    MARIADB,
)
