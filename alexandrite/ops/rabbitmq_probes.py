"""Cheap questions about the local RabbitMQ node, asked without its slow CLI tools."""

from __future__ import annotations

import socket
import urllib.request
from pathlib import Path

from alexandrite.common import platform
from alexandrite.ops.commands import port_is_open, run

__all__ = [
    "AMQP_PORT",
    "MANAGEMENT_PORT",
    "NODENAME",
    "PID_FILE",
    "PROMETHEUS_PORT",
    "RABBITMQ_HOST",
    "amqp_answers",
    "broker_pid",
    "broker_ready",
    "metrics_answer",
    "node_registered",
    "process_gone",
]

RABBITMQ_HOST = platform.HOST
AMQP_PORT = platform.RABBITMQ.port
MANAGEMENT_PORT = platform.RABBITMQ.port_of("management")
PROMETHEUS_PORT = platform.RABBITMQ.port_of("metrics")
NODENAME = "rabbit@localhost"
# Set in deploy/rabbitmq/rabbitmq-env.conf: the path Debian's init script reads and waits for.
PID_FILE = Path("/var/run/rabbitmq/pid")
# Where a node started before that setting wrote it (RabbitMQ's default).
_DEFAULT_PID_FILE = Path(f"/var/lib/rabbitmq/mnesia/{NODENAME}.pid")
# Sent by a client to open AMQP 0-9-1; a live broker answers with a Connection.Start frame.
_AMQP_HEADER = b"AMQP\x00\x00\x09\x01"


def amqp_answers(host: str = RABBITMQ_HOST, port: int = AMQP_PORT) -> bool:
    """True when the broker answers the AMQP 0-9-1 protocol header with a method frame."""
    try:
        with socket.create_connection((host, port), timeout=1.0) as connection:
            connection.sendall(_AMQP_HEADER)
            # Frame type 1 (method) on channel 0: Connection.Start.
            return connection.recv(3) == b"\x01\x00\x00"
    except OSError:
        return False


def metrics_answer() -> bool:
    """True when the broker's Prometheus endpoint answers 200."""
    url = f"http://{RABBITMQ_HOST}:{PROMETHEUS_PORT}/metrics"
    try:
        with urllib.request.urlopen(url, timeout=2.0) as response:
            return bool(response.status == 200)
    except OSError:
        return False


def broker_ready() -> bool:
    """AMQP, the management listener and the metrics endpoint all answer."""
    return amqp_answers() and port_is_open(RABBITMQ_HOST, MANAGEMENT_PORT) and metrics_answer()


def process_gone(pid: int) -> bool:
    """True once the process has exited (a zombie counts: it holds no sockets any more)."""
    try:
        status = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return True
    # The state letter follows the parenthesised command name.
    return status.rpartition(")")[2].split()[0] in {"Z", "X"}


def broker_pid() -> int | None:
    """The broker's OS pid from its pid file, or None when it is not running."""
    for pid_file in (PID_FILE, _DEFAULT_PID_FILE):
        try:
            pid = int(pid_file.read_text().strip())
            command = Path(f"/proc/{pid}/comm").read_text().strip()
        except (OSError, ValueError):
            continue
        # A stale pid file may name a pid that now belongs to another program.
        if command.startswith("beam") and not process_gone(pid):
            return pid
    return None


def node_registered() -> bool:
    """True while epmd still lists our node name (a node that just died may linger briefly)."""
    names = run(["epmd", "-names"], check=False).stdout
    return f"name {NODENAME.partition('@')[0]} at port" in names
