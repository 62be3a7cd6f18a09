"""PostgreSQL, RabbitMQ and MariaDB as `alexandrite.ops.system` sets them up: real servers."""

from __future__ import annotations

import asyncio
import os
import subprocess
import time
import uuid

import aio_pika
import asyncpg
import httpx
import pytest

from alexandrite.common import platform
from alexandrite.common.settings import database_owner, local_database_password
from alexandrite.ops import rabbitmq
from alexandrite.ops.paths import Paths
from alexandrite.ops.rabbitmq_probes import broker_pid
from alexandrite.ops.system import (
    POSTGRES_DATABASES,
    SystemCredentials,
    ensure_system_services,
)

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def credentials() -> SystemCredentials:
    # The real state directory: the role's password must stay the one the services use.
    return ensure_system_services(Paths.from_env(), install=False)


def _listeners() -> list[tuple[str, str]]:
    """(local address, process) for every listening TCP socket."""
    output = subprocess.run(
        ["ss", "-H", "-ltnp"], capture_output=True, text=True, check=True
    ).stdout
    rows = []
    for line in output.splitlines():
        fields = line.split()
        rows.append((fields[3], fields[-1] if fields[-1].startswith("users:") else ""))
    return rows


@pytest.mark.parametrize("process", ["postgres", "beam.smp", "epmd", "mariadbd"])
def test_the_system_servers_listen_on_loopback_only(
    credentials: SystemCredentials, process: str
) -> None:
    addresses = [address for address, users in _listeners() if f'"{process}"' in users]
    assert addresses, f"{process} listens nowhere"
    for address in addresses:
        host = address.rpartition(":")[0]
        assert host in {"127.0.0.1", "[::1]"}, f"{process} listens on {address}"


async def test_each_service_role_owns_and_reaches_its_own_database_only(
    credentials: SystemCredentials,
) -> None:
    for database in POSTGRES_DATABASES:
        role = database_owner(database)
        connection = await asyncpg.connect(
            credentials.postgres_dsn(database, driver="postgresql"), timeout=10
        )
        try:
            owner = await connection.fetchval(
                "SELECT pg_get_userbyid(datdba) FROM pg_database WHERE datname = $1", database
            )
            assert owner == role
            assert await connection.fetchval("SHOW listen_addresses") == "127.0.0.1"
            await connection.execute("CREATE TEMP TABLE probe (id int)")
        finally:
            await connection.close()
        for other in POSTGRES_DATABASES:
            if other == database:
                continue
            # CONNECT is not granted to PUBLIC: one service's password opens no other database.
            with pytest.raises(asyncpg.InsufficientPrivilegeError):
                await asyncpg.connect(
                    host=platform.HOST,
                    port=platform.POSTGRESQL.port,
                    user=role,
                    database=other,
                    timeout=10,
                    password=local_database_password(role),
                )


async def test_a_wrong_postgres_password_is_refused(credentials: SystemCredentials) -> None:
    with pytest.raises(asyncpg.InvalidPasswordError):
        await asyncpg.connect(
            host=platform.HOST,
            port=platform.POSTGRESQL.port,
            user=database_owner(POSTGRES_DATABASES[0]),
            password="not-the-password",
            database=POSTGRES_DATABASES[0],
            timeout=10,
        )


async def _round_trip(amqp_url: str, queue_name: str, body: bytes) -> bytes:
    connection = await aio_pika.connect(amqp_url, timeout=10)
    async with connection:
        channel = await connection.channel()
        queue = await channel.declare_queue(queue_name, durable=True)
        await channel.default_exchange.publish(
            aio_pika.Message(body, delivery_mode=aio_pika.DeliveryMode.PERSISTENT),
            routing_key=queue_name,
        )
        message = await queue.get(timeout=10, fail=True)
        assert message is not None
        await message.ack()
        await queue.delete(if_unused=False, if_empty=False)
        return message.body


async def test_rabbitmq_carries_a_message_over_amqp(credentials: SystemCredentials) -> None:
    queue_name = f"system-check-{uuid.uuid4().hex[:8]}"
    assert await _round_trip(credentials.amqp_url, queue_name, b"hello") == b"hello"


async def test_rabbitmq_serves_prometheus_metrics_and_the_management_api(
    credentials: SystemCredentials,
) -> None:
    async with httpx.AsyncClient(timeout=10) as client:
        rabbitmq = f"http://{platform.HOST}"
        metrics = await client.get(f"{rabbitmq}:{platform.RABBITMQ.port_of('metrics')}/metrics")
        assert metrics.status_code == 200
        assert "rabbitmq_" in metrics.text
        management = f"{rabbitmq}:{platform.RABBITMQ.port_of('management')}"
        overview = await client.get(f"{management}/api/overview", auth=("guest", "guest"))
        assert overview.status_code == 200
        assert overview.json()["node"] == "rabbit@localhost"


def test_mariadb_lets_the_zipkin_user_in_over_tcp(credentials: SystemCredentials) -> None:
    result = subprocess.run(
        [
            "mariadb", "--protocol=TCP", "-h", platform.HOST, "-P", str(platform.MARIADB.port),
            "-u", credentials.mariadb_user, "--batch", "--skip-column-names",
            "-e", "SELECT DATABASE(), 6 * 7", credentials.mariadb_database,
        ],
        env={**os.environ, "MYSQL_PWD": credentials.mariadb_password},
        capture_output=True, text=True, timeout=30, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == [credentials.mariadb_database, "42"]


async def test_ensuring_again_leaves_the_running_servers_alone(
    credentials: SystemCredentials,
) -> None:
    pid = broker_pid()
    connection = await asyncpg.connect(
        credentials.postgres_dsn(POSTGRES_DATABASES[0], driver="postgresql")
    )
    try:
        started = await connection.fetchval("SELECT pg_postmaster_start_time()")
    finally:
        await connection.close()
    again = await asyncio.to_thread(ensure_system_services, Paths.from_env(), install=False)
    assert again == credentials
    assert broker_pid() == pid
    connection = await asyncpg.connect(
        credentials.postgres_dsn(POSTGRES_DATABASES[0], driver="postgresql")
    )
    try:
        assert await connection.fetchval("SELECT pg_postmaster_start_time()") == started
    finally:
        await connection.close()


@pytest.mark.disruptive
@pytest.mark.parametrize("graceful", [True, False], ids=["sigterm", "sigkill"])
async def test_rabbitmq_comes_back_after_a_stop_with_its_persistent_messages(
    credentials: SystemCredentials, graceful: bool
) -> None:
    queue_name = f"system-restart-{uuid.uuid4().hex[:8]}"
    connection = await aio_pika.connect(credentials.amqp_url, timeout=10)
    async with connection:
        channel = await connection.channel(publisher_confirms=True)
        await channel.declare_queue(queue_name, durable=True)
        await channel.default_exchange.publish(
            aio_pika.Message(b"kept", delivery_mode=aio_pika.DeliveryMode.PERSISTENT),
            routing_key=queue_name,
        )
    started = time.monotonic()
    stopped_after = await asyncio.to_thread(rabbitmq.stop_rabbitmq, graceful=graceful)
    assert not rabbitmq.amqp_answers()
    started_after = await asyncio.to_thread(rabbitmq.start_rabbitmq)
    print(f"stop {stopped_after:.1f} s, start {started_after:.1f} s")
    assert time.monotonic() - started < 60
    connection = await aio_pika.connect(credentials.amqp_url, timeout=10)
    async with connection:
        channel = await connection.channel()
        queue = await channel.declare_queue(queue_name, durable=True)
        message = await queue.get(timeout=10, fail=True)
        assert message is not None
        assert message.body == b"kept"
        await message.ack()
        await queue.delete(if_unused=False, if_empty=False)
