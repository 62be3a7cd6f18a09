"""The gateway's own PostgreSQL role: it may read and append the audit log, never change it.

The tables belong to ``alexandrite_gateway_owner`` (migrations run as the owner, and no running
process has its password); the gateway process and the ``alexandrite users|tokens|audit``
commands connect as ``alexandrite_gateway_app``, which gets INSERT and SELECT only on
``audit_log``. Creating a role takes a superuser, so this runs as the ``postgres`` OS user
(``alexandrite.ops.postgres_roles``). Run it after every migration: a table added later needs
its grant here.
"""

from __future__ import annotations

from alexandrite.gateway.settings import APP_ROLE, APP_ROLE_SECRET
from alexandrite.ops.paths import Paths
from alexandrite.ops.postgres_roles import check_identifier, ensure_login_role, superuser_sql
from alexandrite.ops.secrets import ensure_secret

__all__ = ["ensure_app_role"]

# Everything but the audit log is the application's working state.
_READ_WRITE = ("users", "sessions", "api_tokens", "login_failures")
_APPEND_ONLY = ("audit_log",)


def ensure_app_role(paths: Paths, database: str, role: str = APP_ROLE) -> str:
    """Create or update the login role and its grants on `database`; return its password."""
    check_identifier(database)
    password = ensure_secret(paths, APP_ROLE_SECRET)
    ensure_login_role(role, password)
    superuser_sql(
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
    return password
