"""Least-privilege PostgreSQL: one login role per service, owning its own database only.

======================  ==========================  =========================================
database                owner (migrations, app)      who else may connect
======================  ==========================  =========================================
alexandrite_shop        alexandrite_shop             nobody
alexandrite_crm         alexandrite_crm              nobody
alexandrite_mes         alexandrite_mes              nobody
alexandrite_files       alexandrite_files            nobody
alexandrite_notifier    alexandrite_notifier         nobody
alexandrite_gateway     alexandrite_gateway_owner    alexandrite_gateway_app (the gateway)
======================  ==========================  =========================================

``CONNECT`` is revoked from ``PUBLIC`` on every database, so one service's credential opens no
other service's database. The gateway's owner is used by ``alexandrite up`` to migrate and by
nothing that runs: the gateway process connects as ``alexandrite_gateway_app``, which may only
read and append the audit log (``alexandrite.ops.gateway_role``). Each role's password is a
generated secret, ``<state>/secrets/postgres-<role>-password``.

Roles and ownership are changed as the ``postgres`` OS user over the Unix socket (peer
authentication). A database created by an older version (every database owned by the shared
role ``alexandrite``) is moved over: the database and every table, sequence, view, type and
function in its ``public`` schema get the new owner.
"""

from __future__ import annotations

import logging
import re

from alexandrite.common.settings import database_owner, role_password_secret
from alexandrite.ops.commands import run
from alexandrite.ops.paths import Paths
from alexandrite.ops.secrets import ensure_secret

__all__ = [
    "SERVICE_DATABASES",
    "check_identifier",
    "ensure_login_role",
    "ensure_owned_database",
    "ensure_service_databases",
    "superuser_sql",
]

_log = logging.getLogger(__name__)
_IDENTIFIER = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")

SERVICE_DATABASES = tuple(
    f"alexandrite_{service}" for service in ("shop", "crm", "mes", "files", "gateway", "notifier")
)

# Every object of the public schema not yet owned by the database's owner gets it. Sequences
# owned by a column follow their table (ALTER SEQUENCE on them is refused), so they are skipped.
_TAKE_OWNERSHIP = """
DO $$
DECLARE
  item record;
BEGIN
  FOR item IN
    SELECT c.oid::regclass AS name,
           CASE c.relkind WHEN 'S' THEN 'SEQUENCE' WHEN 'v' THEN 'VIEW'
                          WHEN 'm' THEN 'MATERIALIZED VIEW' ELSE 'TABLE' END AS kind
      FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
     WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p', 'v', 'm', 'S')
       AND c.relowner <> '{role}'::regrole
       AND NOT (c.relkind = 'S' AND EXISTS (
             SELECT FROM pg_depend d
              WHERE d.classid = 'pg_class'::regclass AND d.objid = c.oid
                AND d.deptype IN ('a', 'i')))
  LOOP
    EXECUTE format('ALTER %s %s OWNER TO {role}', item.kind, item.name);
  END LOOP;
  FOR item IN
    SELECT t.oid::regtype AS name, CASE t.typtype WHEN 'd' THEN 'DOMAIN' ELSE 'TYPE' END AS kind
      FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace
     WHERE n.nspname = 'public' AND t.typtype IN ('e', 'd') AND t.typowner <> '{role}'::regrole
  LOOP
    EXECUTE format('ALTER %s %s OWNER TO {role}', item.kind, item.name);
  END LOOP;
  FOR item IN
    SELECT p.oid::regprocedure AS name
      FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
     WHERE n.nspname = 'public' AND p.proowner <> '{role}'::regrole
  LOOP
    EXECUTE format('ALTER ROUTINE %s OWNER TO {role}', item.name);
  END LOOP;
END
$$;
"""


def check_identifier(name: str) -> str:
    """`name` if it is a plain lower-case SQL identifier (safe to put in SQL text)."""
    if not _IDENTIFIER.match(name):
        raise ValueError(f"not a plain lower-case SQL identifier: {name!r}")
    return name


def _literal(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def superuser_sql(sql: str, database: str = "postgres") -> str:
    """Run `sql` as the ``postgres`` superuser (Unix socket, peer authentication)."""
    result = run(
        [
            "runuser",
            "-u",
            "postgres",
            "--",
            "psql",
            "-X",
            "-q",
            "-t",
            "-A",
            "-v",
            "ON_ERROR_STOP=1",
            "-d",
            database,
        ],
        input_text=sql,
    )
    return result.stdout.strip()


def ensure_login_role(role: str, password: str) -> None:
    """Create `role` (LOGIN, nothing else) or reset it to that, with `password`."""
    name = check_identifier(role)
    # The password is set on every call so that a regenerated secret file always wins.
    superuser_sql(
        f"""
        DO $$
        BEGIN
          IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = {_literal(name)}) THEN
            CREATE ROLE {name} LOGIN;
          END IF;
        END
        $$;
        ALTER ROLE {name} WITH LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION
          PASSWORD {_literal(password)};
        """
    )


def ensure_owned_database(database: str, owner: str, *, fresh: bool = False) -> None:
    """Make `database` exist, belong to `owner` with everything in it, and be closed to others.

    With `fresh`, an existing database is dropped first (scratch databases of tests).
    """
    name, role = check_identifier(database), check_identifier(owner)
    if fresh:
        superuser_sql(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
    exists = superuser_sql(f"SELECT 1 FROM pg_database WHERE datname = {_literal(name)}")
    if not exists:
        _log.info("creating PostgreSQL database %s owned by %s", name, role)
        # CREATE DATABASE cannot run inside a DO block or a transaction.
        superuser_sql(f"CREATE DATABASE {name} OWNER {role}")
    else:
        superuser_sql(f"ALTER DATABASE {name} OWNER TO {role}")
        superuser_sql(_TAKE_OWNERSHIP.replace("{role}", role), name)
    # PostgreSQL grants CONNECT to PUBLIC by default: another service's role could log in here.
    superuser_sql(f"REVOKE ALL ON DATABASE {name} FROM PUBLIC")


def ensure_service_databases(
    paths: Paths, databases: tuple[str, ...] = SERVICE_DATABASES, *, fresh: bool = False
) -> None:
    """Every service's owner role (password from its secret) and its database."""
    for database in databases:
        owner = database_owner(database)
        ensure_login_role(owner, ensure_secret(paths, role_password_secret(owner)))
        ensure_owned_database(database, owner, fresh=fresh)
