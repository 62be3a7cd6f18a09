"""A support gateway served in the test's event loop over real TLS, with a database of its own
(``alexandrite_gateway_<suffix>``, migrated, with the application role's grants)."""

from __future__ import annotations

import asyncio
import contextlib
import re
import ssl
import tempfile
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import uvicorn

from alexandrite.common.db import Database
from alexandrite.gateway.accounts import Accounts
from alexandrite.gateway.app import create_app
from alexandrite.gateway.audit_anchor import AnchorFile
from alexandrite.gateway.audit_log import AuditLog
from alexandrite.gateway.server import tls_config
from alexandrite.gateway.settings import Settings, app_database_url
from alexandrite.ops.gateway_role import ensure_app_role
from alexandrite.ops.paths import Paths
from alexandrite.ops.scratch_database import fresh_database
from alexandrite.ops.tls import ensure_tls_material
from tests.support.infra import free_port
from tests.support.polling import eventually

PASSWORD = "correct horse battery staple"


@dataclass
class GatewayUnderTest:
    url: str
    ca: Path
    settings: Settings
    # The tables' owner (alexandrite_gateway_owner): used by `alexandrite up` to migrate only.
    owner_url: str
    database: Database
    accounts: Accounts
    audit: AuditLog

    def client(self, **options: Any) -> httpx.AsyncClient:
        return httpx.AsyncClient(base_url=self.url, verify=self.tls(), timeout=30, **options)

    def tls(self) -> ssl.SSLContext:
        return ssl.create_default_context(cafile=str(self.ca))

    async def add_user(self, name: str, *roles: str, password: str = PASSWORD) -> None:
        await self.accounts.add_user(name, list(roles), password)

    async def token(self, name: str) -> str:
        return (await self.accounts.create_token(name, 1)).token

    async def login(self, client: httpx.AsyncClient, name: str, password: str = PASSWORD) -> str:
        """Log in through the login page, as a browser does; return the session cookie."""
        page = await client.get("/auth/login", headers={"accept": "text/html"})
        token = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
        assert token is not None
        response = await client.post(
            "/auth/login",
            data={"username": name, "password": password, "csrf_token": token.group(1)},
        )
        assert response.status_code == 303, response.text
        cookie = client.cookies.get("__Host-alexandrite-session")
        assert cookie
        return cookie

    async def owner(self) -> asyncpg.Connection:
        """A connection as the tables' owner: what an attacker with the owner's password has."""
        return await asyncpg.connect(self.owner_url.replace("+asyncpg", ""))

    async def audit_rows(self, after_seq: int = 0) -> list[dict[str, Any]]:
        return [
            {
                column: getattr(row, column)
                for column in (
                    "seq",
                    "actor",
                    "role",
                    "action",
                    "path",
                    "result",
                    "status_code",
                    "order_id",
                    "trace_id",
                    "client",
                    "user_agent",
                    "detail",
                )
            }
            async for row in self.audit.rows(after_seq)
        ]

    async def last_seq(self) -> int:
        rows = await self.audit.tail(1)
        return rows[-1].seq if rows else 0


@contextlib.asynccontextmanager
async def running_gateway(
    suffix: str, anchor_dir: Path | None = None, **overrides: Any
) -> AsyncIterator[GatewayUnderTest]:
    """A gateway on a fresh database; its audit anchors go to `anchor_dir` (else a new temp dir)."""
    paths = Paths.from_env()
    tls = ensure_tls_material(paths)
    name = f"alexandrite_gateway_{suffix}"
    owner_url = await fresh_database("gateway", suffix)
    await asyncio.to_thread(ensure_app_role, paths, name)
    anchors = Path(anchor_dir or tempfile.mkdtemp(prefix=f"gateway-{suffix}-")) / "anchors.jsonl"
    settings = Settings(
        database_url=app_database_url(name),
        audit_anchor_file=anchors,
        port=free_port(),
        tls_cert_file=tls.server_cert,
        tls_key_file=tls.server_key,
        tls_ca_file=tls.ca_cert,
        **overrides,
    )
    app = create_app(settings)
    server = uvicorn.Server(tls_config(app, settings))
    task = asyncio.create_task(server.serve(), name=f"gateway-{suffix}")
    url = f"https://127.0.0.1:{settings.port}"

    async def ready() -> bool:
        if task.done():
            task.result()
        try:
            context = ssl.create_default_context(cafile=str(tls.ca_cert))
            async with httpx.AsyncClient(verify=context) as client:
                return (await client.get(f"{url}/ready", timeout=2)).status_code == 200
        except httpx.HTTPError:
            return False

    database = Database.connect(settings.database_url, pool_size=2)
    try:
        await eventually(ready, timeout=30, what="the gateway to be ready")
        yield GatewayUnderTest(
            url=url,
            ca=tls.ca_cert,
            settings=settings,
            owner_url=owner_url,
            database=database,
            accounts=Accounts(database.sessions),
            audit=AuditLog(
                database.sessions,
                AnchorFile(settings.audit_anchor_file, settings.audit_anchor_every_rows),
            ),
        )
    finally:
        await database.close()
        server.should_exit = True
        await asyncio.wait_for(task, timeout=20)
