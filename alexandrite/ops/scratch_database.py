"""A fresh, migrated database of one service, for tests and benchmarks that must not touch the
platform's own data: ``alexandrite_<service>_<suffix>`` is dropped, created and migrated."""

from __future__ import annotations

import asyncio

import asyncpg

from alexandrite.common.migrations import upgrade
from alexandrite.common.settings import local_database_password, local_database_url

__all__ = ["fresh_database"]


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
