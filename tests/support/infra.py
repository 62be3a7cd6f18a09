"""Test databases and a RabbitMQ virtual host of their own, so tests never touch the data or
the queues of a platform that runs at the same time (``alexandrite up``)."""

from __future__ import annotations

import socket
import subprocess

from alexandrite.common import platform

TEST_VHOST = "alexandrite-test"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def test_amqp_url() -> str:
    """A fresh RabbitMQ virtual host (deleted and recreated) that guest may use."""
    for command in (
        ["rabbitmqctl", "-q", "delete_vhost", TEST_VHOST],
        ["rabbitmqctl", "-q", "add_vhost", TEST_VHOST],
        ["rabbitmqctl", "-q", "set_permissions", "-p", TEST_VHOST, "guest", ".*", ".*", ".*"],
    ):
        subprocess.run(command, check=command[2] != "delete_vhost", capture_output=True)
    return f"amqp://guest:guest@{platform.HOST}:{platform.RABBITMQ.port}/{TEST_VHOST}"
