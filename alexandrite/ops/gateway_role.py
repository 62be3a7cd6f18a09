"""The gateway's own PostgreSQL role: it may read and append the audit log, never change it.

The tables belong to ``alexandrite`` (migrations run as the owner); the gateway process and the
``alexandrite users|tokens|audit`` commands connect as ``alexandrite_gateway_app``, which gets
INSERT and SELECT only on ``audit_log``. Creating a role takes a superuser, so this runs as the
``postgres`` OS user over the Unix socket (peer authentication), like alexandrite.ops.postgres.
Run it after every migration: a table added later needs its grant here.
"""

from __future__ import annotations

import re

from alexandrite.gateway.settings import APP_ROLE, APP_ROLE_SECRET
from alexandrite.ops.commands import run
from alexandrite.ops.paths import Paths
from alexandrite.ops.secrets import ensure_secret

__all__ = ["ensure_app_role"]

_IDENTIFIER = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")
# Everything but the audit log is the application's working state.
_READ_WRITE = ("users", "sessions", "api_tokens", "login_failures")
_APPEND_ONLY = ("audit_log",)


def _psql(sql: str, database: str) -> None:
    run(
        ["runuser", "-u", "postgres", "--", "psql", "-X", "-q", "-v", "ON_ERROR_STOP=1",
         "-d", database],
        input_text=sql,
    )


def ensure_app_role(paths: Paths, database: str, role: str = APP_ROLE) -> str:
    """Create or update the login role and its grants on `database`; return its password."""
    for name in (database, role):
        if not _IDENTIFIER.match(name):
            raise ValueError(f"not a plain lower-case SQL identifier: {name!r}")
    password = ensure_secret(paths, APP_ROLE_SECRET).replace("'", "''")
    _psql(
        f"""
        DO $$
        BEGIN
          IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '{role}') THEN
            CREATE ROLE {role} LOGIN;
          END IF;
        END
        $$;
        ALTER ROLE {role} WITH LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE PASSWORD '{password}';
        """,
        "postgres",
    )
    _psql(
        f"""
        BEGIN;
        GRANT CONNECT ON DATABASE {database} TO {role};
        GRANT USAGE ON SCHEMA public TO {role};
        REVOKE ALL ON ALL TABLES IN SCHEMA public FROM {role};
        GRANT SELECT, INSERT, UPDATE, DELETE ON {", ".join(_READ_WRITE)} TO {role};
        GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO {role};
        GRANT SELECT, INSERT ON {", ".join(_APPEND_ONLY)} TO {role};
        COMMIT;
        """,
        database,
    )
    return ensure_secret(paths, APP_ROLE_SECRET)
