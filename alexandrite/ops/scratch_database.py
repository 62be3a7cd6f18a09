"""A fresh, migrated database of one service, for tests and benchmarks that must not touch the
platform's own data: ``alexandrite_<service>_<suffix>`` is dropped, created and migrated.

It belongs to the service's own role, as the platform's database does (``postgres_roles``), so
tests run with the privileges the service really has.
"""

from __future__ import annotations

import asyncio

from alexandrite.common.migrations import upgrade
from alexandrite.common.settings import local_database_url
from alexandrite.ops.paths import Paths
from alexandrite.ops.postgres_roles import ensure_service_databases

__all__ = ["fresh_database"]


async def fresh_database(service: str, suffix: str = "test") -> str:
    """Drop and create ``alexandrite_<service>_<suffix>``, migrate it, return its owner's URL."""
    name = f"alexandrite_{service}_{suffix}"
    # Creating roles and databases for another owner takes the superuser (psql as postgres).
    await asyncio.to_thread(ensure_service_databases, Paths.from_env(), (name,), fresh=True)
    url = local_database_url(name)
    # Alembic's env runs its own event loop: keep it off ours.
    await asyncio.to_thread(upgrade, service, url)
    return url
