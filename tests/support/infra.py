"""Test databases and a RabbitMQ virtual host of their own, so tests never touch the data or
the queues of a platform that runs at the same time (``alexandrite up``)."""

from __future__ import annotations

import asyncio
import socket
import subprocess

import asyncpg

from alexandrite.common.migrations import upgrade
from alexandrite.common.settings import local_database_password, local_database_url

TEST_VHOST = "alexandrite-test"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


async def fresh_database(service: str, suffix: str = "test") -> str:
    """Drop and create ``alexandrite_<service>_<suffix>``, migrate it, return its URL."""
    name = f"alexandrite_{service}_{suffix}"
    connection = await asyncpg.connect(
        host="127.0.0.1",
        port=5432,
        user="alexandrite",
        password=local_database_password(),
        database="postgres",
    )
    try:
        await connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await connection.execute(f'CREATE DATABASE "{name}"')
    finally:
        await connection.close()
    url = local_database_url(name)
    # Alembic's env runs its own event loop: keep it off ours.
    await asyncio.to_thread(upgrade, service, url)
    return url


def test_amqp_url() -> str:
    """A fresh RabbitMQ virtual host (deleted and recreated) that guest may use."""
    for command in (
        ["rabbitmqctl", "-q", "delete_vhost", TEST_VHOST],
        ["rabbitmqctl", "-q", "add_vhost", TEST_VHOST],
        ["rabbitmqctl", "-q", "set_permissions", "-p", TEST_VHOST, "guest", ".*", ".*", ".*"],
    ):
        subprocess.run(command, check=command[2] != "delete_vhost", capture_output=True)
    return f"amqp://guest:guest@127.0.0.1:5672/{TEST_VHOST}"
