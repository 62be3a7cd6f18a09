"""The system servers the platform needs (PostgreSQL, RabbitMQ, MariaDB), up or down in one call.

Each server has its own module (postgres, rabbitmq, mariadb, apt); this one strings them
together for `alexandrite up`, `.ci/run` and tests:

    python -m alexandrite.ops.system up      # install what is missing, start, create databases
    python -m alexandrite.ops.system down    # stop all three
    python -m alexandrite.ops.system status

Credentials: each service's PostgreSQL role (``alexandrite.ops.postgres_roles``: one role per
database, owning it alone) and the MariaDB user `zipkin` get generated passwords, kept in
Paths.secrets (`postgres-<role>-password`, `zipkin-db-password`); RabbitMQ keeps guest/guest,
which it accepts from loopback only.
"""

from __future__ import annotations

import argparse
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from alexandrite.common.settings import (
    database_owner,
    local_database_password,
    role_password_secret,
)
from alexandrite.ops import mariadb, postgres, rabbitmq
from alexandrite.ops.apt import REQUIRED_PACKAGES, ensure_apt_packages
from alexandrite.ops.paths import Paths
from alexandrite.ops.postgres_roles import SERVICE_DATABASES, ensure_service_databases
from alexandrite.ops.secrets import ensure_secret
from alexandrite.ops.zipkin.database import PASSWORD_SECRET as ZIPKIN_PASSWORD_SECRET

__all__ = [
    "POSTGRES_DATABASES",
    "ZIPKIN_DATABASE",
    "ZIPKIN_USER",
    "SystemCredentials",
    "ensure_system_services",
    "main",
    "stop_system_services",
    "system_status",
]

log = logging.getLogger(__name__)

POSTGRES_DATABASES = list(SERVICE_DATABASES)
ZIPKIN_DATABASE = "zipkin"
ZIPKIN_USER = "zipkin"


@dataclass(frozen=True)
class SystemCredentials:
    """How clients reach the system servers; all on 127.0.0.1."""

    mariadb_password: str = field(repr=False)
    mariadb_user: str = ZIPKIN_USER
    mariadb_database: str = ZIPKIN_DATABASE
    amqp_url: str = f"amqp://guest:guest@{rabbitmq.RABBITMQ_HOST}:{rabbitmq.AMQP_PORT}/"

    def postgres_dsn(self, database: str, driver: str = "postgresql+asyncpg") -> str:
        """As the database's owner, e.g.
        postgresql+asyncpg://alexandrite_shop:<password>@127.0.0.1:5432/alexandrite_shop."""
        role = database_owner(database)
        return (
            f"{driver}://{role}:{local_database_password(role)}"
            f"@{postgres.POSTGRES_HOST}:{postgres.POSTGRES_PORT}/{database}"
        )

    @classmethod
    def load(cls, paths: Paths) -> SystemCredentials:
        """The credentials from the secrets directory, generating missing passwords."""
        for database in SERVICE_DATABASES:
            ensure_secret(paths, role_password_secret(database_owner(database)))
        return cls(mariadb_password=ensure_secret(paths, ZIPKIN_PASSWORD_SECRET))


def ensure_system_services(
    paths: Paths,
    *,
    databases: list[str] | None = None,
    install: bool = True,
    with_mariadb: bool = True,
) -> SystemCredentials:
    """Install what is missing, start the servers, create roles, user and databases."""
    timings: dict[str, float] = {}

    def step(name: str, action: Callable[[], object]) -> None:
        started = time.monotonic()
        action()
        timings[name] = time.monotonic() - started

    paths.ensure()
    credentials = SystemCredentials.load(paths)
    if install:
        step("apt", lambda: ensure_apt_packages(REQUIRED_PACKAGES))
    step("postgresql", postgres.ensure_postgres_running)
    step(
        "postgresql databases",
        lambda: ensure_service_databases(paths, tuple(databases or POSTGRES_DATABASES)),
    )
    step("rabbitmq", rabbitmq.ensure_rabbitmq_running)
    if with_mariadb:
        step("mariadb", mariadb.ensure_mariadb_running)
        step(
            "mariadb database",
            lambda: mariadb.ensure_mariadb_database(
                ZIPKIN_DATABASE, ZIPKIN_USER, credentials.mariadb_password
            ),
        )
    log.info(
        "system servers ready: %s",
        ", ".join(f"{name} {seconds:.1f} s" for name, seconds in timings.items()),
    )
    return credentials


def stop_system_services() -> None:
    """Stop RabbitMQ, PostgreSQL and MariaDB (each a no-op when already stopped)."""
    rabbitmq.stop_rabbitmq()
    postgres.stop_postgres()
    mariadb.stop_mariadb()


def system_status() -> dict[str, bool]:
    """Which system servers are running."""
    return {
        "postgresql": postgres.postgres_is_running(),
        "rabbitmq": rabbitmq.rabbitmq_is_running(),
        "mariadb": mariadb.mariadb_is_running(),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m alexandrite.ops.system")
    parser.add_argument("action", choices=["up", "down", "status"])
    parser.add_argument("--no-install", action="store_true", help="skip the apt check")
    parser.add_argument("--no-mariadb", action="store_true", help="PostgreSQL and RabbitMQ only")
    arguments = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    if arguments.action == "up":
        ensure_system_services(
            Paths.from_env(),
            install=not arguments.no_install,
            with_mariadb=not arguments.no_mariadb,
        )
    elif arguments.action == "down":
        stop_system_services()
    else:
        status = system_status()
        for name, running in status.items():
            print(f"{name}: {'running' if running else 'stopped'}")
        return 0 if all(status.values()) else 3
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
