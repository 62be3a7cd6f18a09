"""Getting the gateway's database ready at setup: the application role, and the demo user.

    python -m alexandrite.ops.gateway_bootstrap      # after migrating alexandrite_gateway

``alexandrite up`` calls ``prepare_gateway`` after the migrations, and the demo prints the
``demo-support`` login (its password is generated once, kept in the secrets directory).
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass

from alexandrite.common import platform
from alexandrite.common.db import Database
from alexandrite.gateway.accounts import Accounts
from alexandrite.gateway.audit_anchor import AnchorFile
from alexandrite.gateway.audit_log import AuditEntry, AuditLog
from alexandrite.gateway.principal import SUPPORT
from alexandrite.gateway.settings import DATABASE, Settings, app_database_url
from alexandrite.ops.gateway_role import ensure_app_role
from alexandrite.ops.paths import Paths
from alexandrite.ops.secrets import ensure_secret

__all__ = [
    "DEMO_PASSWORD_SECRET",
    "DEMO_USER",
    "DemoLogin",
    "ensure_demo_support_user",
    "prepare_gateway",
]

_log = logging.getLogger(__name__)

DEMO_USER = "demo-support"
DEMO_PASSWORD_SECRET = "gateway-demo-support-password"


@dataclass(frozen=True)
class DemoLogin:
    url: str
    user: str
    password: str


async def _ensure_user(database_url: str, name: str, password: str) -> bool:
    database = Database.connect(database_url, pool_size=1)
    try:
        accounts = Accounts(database.sessions)
        user = await accounts.get_user(name)
        if user is not None:
            # Keep the secret file authoritative: a regenerated file resets the password.
            user_ok, _ = await accounts.check_password(name, password)
            if user_ok is None and not user.disabled:
                await accounts.set_password(name, password)
            return False
        await accounts.add_user(name, [SUPPORT], password)
        # Anchored at once, like the CLI's rows: the gateway may not be running yet.
        settings = Settings()
        anchors = AnchorFile(settings.audit_anchor_file, settings.audit_anchor_every_rows)
        await AuditLog(database.sessions, anchors).append(
            AuditEntry(
                action="user.add", result="success", actor="setup", detail=f"{name} support"
            ),
            anchor=True,
        )
        return True
    finally:
        await database.close()


def ensure_demo_support_user(
    paths: Paths, database_url: str | None = None, port: int | None = None
) -> DemoLogin:
    """Make sure `demo-support` (role support) exists with the password in the secrets dir."""
    password = ensure_secret(paths, DEMO_PASSWORD_SECRET, nbytes=18)
    created = asyncio.run(_ensure_user(database_url or app_database_url(), DEMO_USER, password))
    if created:
        _log.info("created the gateway user %s", DEMO_USER)
    url = f"https://{platform.HOST}:{platform.GATEWAY.port if port is None else port}/"
    return DemoLogin(url=url, user=DEMO_USER, password=password)


def prepare_gateway(paths: Paths, database: str = DATABASE) -> DemoLogin:
    """After migrating the gateway's database: its application role, grants and demo user."""
    ensure_app_role(paths, database)
    return ensure_demo_support_user(paths, app_database_url(database))


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO)
    login = prepare_gateway(Paths.from_env())
    print(f"{login.url}  user {login.user}  password {login.password}")
