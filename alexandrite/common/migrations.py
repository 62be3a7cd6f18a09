"""Alembic, driven from code: every service keeps its migrations in ``<service>/migrations``.

    python -m alexandrite.common.migrations upgrade shop
    python -m alexandrite.common.migrations revision shop "add complaints"   # autogenerate

Each service's ``migrations/env.py`` is two lines that call ``run_env`` with its metadata.
"""

from __future__ import annotations

import asyncio
import importlib
import sys

from alembic import command, context
from alembic.config import Config
from sqlalchemy import MetaData, pool
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import create_async_engine

__all__ = ["alembic_config", "run_env", "upgrade"]

SERVICES = ("shop", "crm", "mes", "files", "gateway", "notifier")


def alembic_config(service: str, url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", f"alexandrite.{service}:migrations")
    config.set_main_option("sqlalchemy.url", url)
    return config


def upgrade(service: str, url: str) -> None:
    command.upgrade(alembic_config(service, url), "head")


def _run_sync(connection: Connection, metadata: MetaData) -> None:
    context.configure(connection=connection, target_metadata=metadata, compare_type=True)
    with context.begin_transaction():
        context.run_migrations()


async def _run_async(url: str, metadata: MetaData) -> None:
    engine = create_async_engine(url, poolclass=pool.NullPool)
    async with engine.connect() as connection:
        await connection.run_sync(_run_sync, metadata)
    await engine.dispose()


def run_env(metadata: MetaData) -> None:
    """The body of every service's ``env.py`` (online migrations only)."""
    url = context.config.get_main_option("sqlalchemy.url")
    if not url:
        raise RuntimeError("sqlalchemy.url is not set")
    asyncio.run(_run_async(url, metadata))


def _settings_url(service: str) -> str:
    module = importlib.import_module(f"alexandrite.{service}.settings")
    settings = module.Settings()
    url: str = settings.database_url
    return url


def main(argv: list[str]) -> int:
    if len(argv) < 2 or argv[0] not in {"upgrade", "revision"} or argv[1] not in SERVICES:
        print(__doc__)
        return 2
    action, service = argv[0], argv[1]
    config = alembic_config(service, _settings_url(service))
    if action == "upgrade":
        command.upgrade(config, "head")
    else:
        command.revision(config, message=argv[2] if len(argv) > 2 else "change", autogenerate=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
