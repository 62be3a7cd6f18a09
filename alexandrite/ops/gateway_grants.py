"""The gateway role's grants, given by the tables' owner over the network (Kubernetes, Compose).

    GATEWAY_DATABASE_URL=postgresql+asyncpg://alexandrite:…@db/alexandrite_gateway \\
    GATEWAY_APP_ROLE=alexandrite_gateway_app  python -m alexandrite.ops.gateway_grants

Locally, alexandrite.ops.gateway_role creates the role as the ``postgres`` superuser over the
Unix socket. In a cluster there is no such socket: the role is created with the database (the
chart's init script, or the database's administrator), and the owner of the migrated tables
grants it the same rights as locally: read-write on the working tables, SELECT and INSERT only
on the audit log. Run after every migration (the chart's migration Job does).
"""

from __future__ import annotations

import asyncio
import os
import re

from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from alexandrite.gateway.settings import APP_ROLE

__all__ = ["APPEND_ONLY_TABLES", "READ_WRITE_TABLES", "grant_statements", "main"]

READ_WRITE_TABLES = ("users", "sessions", "api_tokens", "login_failures")
APPEND_ONLY_TABLES = ("audit_log",)
_IDENTIFIER = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")


def grant_statements(role: str) -> list[str]:
    """The statements, in order; `role` must be a plain lower-case identifier."""
    if not _IDENTIFIER.match(role):
        raise ValueError(f"not a plain lower-case SQL identifier: {role!r}")
    return [
        f"GRANT USAGE ON SCHEMA public TO {role}",
        f"REVOKE ALL ON ALL TABLES IN SCHEMA public FROM {role}",
        f"GRANT SELECT, INSERT, UPDATE, DELETE ON {', '.join(READ_WRITE_TABLES)} TO {role}",
        f"GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO {role}",
        f"GRANT SELECT, INSERT ON {', '.join(APPEND_ONLY_TABLES)} TO {role}",
    ]


async def _grant(url: str, role: str) -> None:
    engine = create_async_engine(url)
    try:
        async with engine.begin() as connection:
            for statement in grant_statements(role):
                await connection.execute(text(statement))
    finally:
        await engine.dispose()


def main() -> int:
    url = os.environ["GATEWAY_DATABASE_URL"]
    role = os.environ.get("GATEWAY_APP_ROLE", APP_ROLE)
    asyncio.run(_grant(url, role))
    print(f"granted the gateway's rights to {role}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
