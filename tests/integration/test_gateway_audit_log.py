"""The audit log is append-only for the application and its hash chain exposes any change made
behind the application's back (as the tables' owner): updated, deleted or inserted rows, and
the newest rows cut off (the chain's head is anchored outside the database). No other
service's database role can reach the table at all."""

from __future__ import annotations

import asyncio
import functools
import json
import os
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import asyncpg
import pytest
import pytest_asyncio
import typer
from typer.testing import CliRunner, Result

from alexandrite.cli.security import audit_app, tokens_app, users_app
from alexandrite.common import platform
from alexandrite.common.settings import local_database_password
from alexandrite.gateway.audit_anchor import AnchorFile
from alexandrite.gateway.audit_chain import row_hash
from alexandrite.gateway.audit_log import AuditEntry
from alexandrite.ops.paths import Paths
from alexandrite.ops.postgres_roles import ensure_service_databases, superuser_sql
from tests.support.gateway import PASSWORD, GatewayUnderTest, running_gateway
from tests.support.polling import eventually

pytestmark = pytest.mark.timeout(300)


@pytest_asyncio.fixture(loop_scope="session")
async def gateway() -> AsyncIterator[GatewayUnderTest]:
    # Anchors every 4th row and every 0.2 s: the tests wait for the head to be anchored.
    async with running_gateway(
        "audit_test", audit_anchor_every_rows=4, audit_anchor_interval_s=0.2
    ) as running:
        for number in range(1, 11):
            await running.audit.append(
                AuditEntry(
                    action="zipkin.api",
                    result="allowed",
                    status_code=200,
                    actor="ada",
                    role="support",
                    path=f"/zipkin/api/v2/services?n={number}",
                )
            )
        yield running


@pytest.fixture
def cli(gateway: GatewayUnderTest) -> Iterator[CliRunner]:
    variables = {
        "GATEWAY_DATABASE_URL": gateway.settings.database_url,
        "GATEWAY_AUDIT_ANCHOR_FILE": str(gateway.settings.audit_anchor_file),
    }
    saved = {name: os.environ.get(name) for name in variables}
    os.environ.update(variables)
    try:
        yield CliRunner()
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name)
            else:
                os.environ[name] = value


async def _head_anchored(gateway: GatewayUnderTest) -> int:
    """Wait until the gateway's periodic anchoring has written the table's head; return it."""
    head = await gateway.last_seq()
    anchors = AnchorFile(gateway.settings.audit_anchor_file)

    async def anchored() -> bool:
        return head in (anchors.read() or {})

    await eventually(anchored, timeout=15, what=f"row {head} anchored outside the database")
    return head


async def invoke(cli: CliRunner, app: typer.Typer, args: list[str], **options: Any) -> Result:
    """The commands run their own event loop (asyncio.run): keep it off the test's loop."""
    return await asyncio.to_thread(functools.partial(cli.invoke, app, args, **options))


async def _tamper(gateway: GatewayUnderTest, *statements: str) -> None:
    """Change the log as its owner would: switch the append-only trigger off first."""
    owner = await gateway.owner()
    try:
        async with owner.transaction():
            await owner.execute("ALTER TABLE audit_log DISABLE TRIGGER audit_log_append_only")
            for statement in statements:
                await owner.execute(statement)
            await owner.execute("ALTER TABLE audit_log ENABLE TRIGGER audit_log_append_only")
    finally:
        await owner.close()


async def test_an_intact_chain_verifies(gateway: GatewayUnderTest, cli: CliRunner) -> None:
    report = await gateway.audit.verify()
    assert report.ok and report.rows == 10 and report.head_seq == 10
    result = await invoke(cli, audit_app, ["verify"])
    assert result.exit_code == 0, result.output
    assert "intact: 10 rows" in result.output


async def test_the_application_role_cannot_change_or_delete_audit_rows(
    gateway: GatewayUnderTest,
) -> None:
    connection = await asyncpg.connect(gateway.settings.database_url.replace("+asyncpg", ""))
    try:
        for statement in (
            "UPDATE audit_log SET result = 'denied' WHERE seq = 1",
            "DELETE FROM audit_log WHERE seq = 1",
            "TRUNCATE audit_log",
            "ALTER TABLE audit_log DISABLE TRIGGER audit_log_append_only",
        ):
            with pytest.raises(asyncpg.InsufficientPrivilegeError):
                await connection.execute(statement)
    finally:
        await connection.close()


async def test_even_the_owner_cannot_update_rows_while_the_trigger_is_on(
    gateway: GatewayUnderTest,
) -> None:
    owner = await gateway.owner()
    try:
        with pytest.raises(asyncpg.InsufficientPrivilegeError, match="append-only"):
            await owner.execute("UPDATE audit_log SET result = 'denied' WHERE seq = 3")
        with pytest.raises(asyncpg.InsufficientPrivilegeError, match="append-only"):
            await owner.execute("DELETE FROM audit_log WHERE seq = 3")
    finally:
        await owner.close()


async def test_an_updated_row_is_named(gateway: GatewayUnderTest, cli: CliRunner) -> None:
    await _tamper(gateway, "UPDATE audit_log SET actor = 'mallory' WHERE seq = 4")
    result = await invoke(cli, audit_app, ["verify"])
    assert result.exit_code == 1
    assert "BROKEN at row 4" in result.output
    assert "does not match its hash" in result.output


async def test_a_deleted_row_is_named(gateway: GatewayUnderTest, cli: CliRunner) -> None:
    await _tamper(gateway, "DELETE FROM audit_log WHERE seq = 6")
    result = await invoke(cli, audit_app, ["verify"])
    assert result.exit_code == 1
    assert "BROKEN at row 7" in result.output and "6 missing" in result.output


async def test_a_deleted_row_with_the_chain_renumbered_is_named(
    gateway: GatewayUnderTest,
) -> None:
    await _tamper(
        gateway,
        "DELETE FROM audit_log WHERE seq = 6",
        "UPDATE audit_log SET seq = seq - 1 WHERE seq > 6",
    )
    report = await gateway.audit.verify()
    assert not report.ok and report.broken_seq == 6
    assert report.reason is not None and "previous-hash" in report.reason


async def test_an_inserted_row_is_named(gateway: GatewayUnderTest, cli: CliRunner) -> None:
    owner = await gateway.owner()
    try:
        # A forger who knows the scheme but not how to fit in the middle of the chain: a row
        # inserted between 2 and 3 shifts everything after it.
        await _tamper(gateway, "UPDATE audit_log SET seq = seq + 1000 WHERE seq >= 3")
        await _tamper(gateway, "UPDATE audit_log SET seq = seq - 999 WHERE seq >= 1003")
        forged = {
            "seq": 3,
            "at": None,
            "actor": "mallory",
            "role": "support",
            "action": "zipkin.ui",
            "method": "GET",
            "path": "/zipkin/",
            "trace_id": None,
            "order_id": None,
            "result": "allowed",
            "status_code": 200,
            "client": "127.0.0.1",
            "user_agent": None,
            "detail": None,
            "prev_hash": "f" * 64,
        }
        await owner.execute(
            "INSERT INTO audit_log (seq, at, actor, role, action, method, path, result,"
            " status_code, client, prev_hash, hash) VALUES (3, now(), 'mallory', 'support',"
            " 'zipkin.ui', 'GET', '/zipkin/', 'allowed', 200, '127.0.0.1', $1, $2)",
            forged["prev_hash"],
            row_hash(forged),
        )
    finally:
        await owner.close()
    result = await invoke(cli, audit_app, ["verify"])
    assert result.exit_code == 1
    assert "BROKEN at row 3" in result.output


async def test_a_row_appended_with_a_forged_hash_is_named(
    gateway: GatewayUnderTest, cli: CliRunner
) -> None:
    owner = await gateway.owner()
    try:
        last = await owner.fetchrow("SELECT hash FROM audit_log WHERE seq = 10")
        await owner.execute(
            "INSERT INTO audit_log (seq, at, action, result, prev_hash, hash)"
            " VALUES (11, now(), 'login', 'success', $1, $2)",
            last["hash"],
            "0" * 64,
        )
    finally:
        await owner.close()
    result = await invoke(cli, audit_app, ["verify"])
    assert result.exit_code == 1 and "BROKEN at row 11" in result.output


async def test_the_newest_rows_deleted_are_detected_by_verify(
    gateway: GatewayUnderTest, cli: CliRunner
) -> None:
    head = await _head_anchored(gateway)
    assert head == 10
    await _tamper(gateway, "DELETE FROM audit_log WHERE seq >= 9")
    # What is left is a valid chain: only the anchor outside the database tells.
    result = await invoke(cli, audit_app, ["verify"])
    assert result.exit_code == 1, result.output
    assert "BROKEN at row 9" in result.output and "newest rows were deleted" in result.output


async def test_deleted_rows_whose_sequence_numbers_were_reused_are_detected(
    gateway: GatewayUnderTest, cli: CliRunner
) -> None:
    await _head_anchored(gateway)
    await _tamper(gateway, "DELETE FROM audit_log WHERE seq >= 8")
    # The next requests take 8, 9 and 10 again, with other content and hashes.
    async with gateway.client() as client:
        for _ in range(3):
            assert (await client.get("/zipkin/api/v2/services")).status_code == 401
    assert await gateway.last_seq() >= 10
    result = await invoke(cli, audit_app, ["verify"])
    assert result.exit_code == 1, result.output
    assert "differs from the one anchored" in result.output


async def test_an_anchor_given_by_hand_is_checked_too(
    gateway: GatewayUnderTest, cli: CliRunner
) -> None:
    head = await gateway.audit.verify()
    result = await invoke(cli, audit_app, ["verify", "--anchor", f"3:{'e' * 64}"])
    assert result.exit_code == 1 and "BROKEN at row 3" in result.output
    good = await invoke(cli, audit_app, ["verify", "--anchor", f"{head.head_seq}:{head.head_hash}"])
    assert good.exit_code == 0, good.output


@pytest.mark.parametrize("service", ["shop", "crm", "mes", "files", "notifier"])
async def test_no_other_service_role_can_reach_or_change_the_audit_table(
    gateway: GatewayUnderTest, service: str
) -> None:
    # The role the service really connects with, as its settings build the URL.
    settings_module = __import__(f"alexandrite.{service}.settings", fromlist=["Settings"])
    url = settings_module.Settings().database_url.replace("+asyncpg", "")
    role = url.split("://", 1)[1].split(":", 1)[0]
    await asyncio.to_thread(
        ensure_service_databases, Paths.from_env(), (f"alexandrite_{service}_roles_test",)
    )
    database = gateway.settings.database_name()
    credentials = {
        "host": platform.HOST,
        "port": platform.POSTGRESQL.port,
        "user": role,
        "password": local_database_password(role),
    }
    # First wall: CONNECT is not granted to PUBLIC, so the service cannot even log in here.
    with pytest.raises(asyncpg.InsufficientPrivilegeError, match="permission denied"):
        await asyncpg.connect(database=database, **credentials)
    # Second wall, should that grant ever come back: it owns nothing and may change nothing.
    await asyncio.to_thread(superuser_sql, f"GRANT CONNECT ON DATABASE {database} TO {role}")
    try:
        connection = await asyncpg.connect(database=database, **credentials)
        try:
            for statement in (
                "ALTER TABLE audit_log DISABLE TRIGGER audit_log_append_only",
                "UPDATE audit_log SET actor = 'mallory' WHERE seq = 1",
                "DELETE FROM audit_log WHERE seq = 10",
                "ALTER TABLE audit_log OWNER TO CURRENT_USER",
            ):
                with pytest.raises(asyncpg.InsufficientPrivilegeError):
                    await connection.execute(statement)
        finally:
            await connection.close()
    finally:
        await asyncio.to_thread(superuser_sql, f"REVOKE CONNECT ON DATABASE {database} FROM {role}")
    owner = await gateway.owner()
    try:
        assert (
            await owner.fetchval("SELECT tableowner FROM pg_tables WHERE tablename = 'audit_log'")
            == "alexandrite_gateway_owner"
        )
    finally:
        await owner.close()


async def test_user_and_token_commands_work_and_are_audited(
    gateway: GatewayUnderTest, cli: CliRunner, tmp_path: Path
) -> None:
    added = await invoke(
        cli,
        users_app,
        ["add", "eve", "--role", "support", "--password-stdin"],
        input=PASSWORD + "\n",
    )
    assert added.exit_code == 0, added.output
    duplicate = await invoke(
        cli, users_app, ["add", "eve", "--role", "admin", "--password-stdin"], input=PASSWORD + "\n"
    )
    assert duplicate.exit_code == 1
    created = await invoke(cli, tokens_app, ["create", "eve"])
    assert created.exit_code == 0, created.output
    token = created.stdout.strip().splitlines()[-1]
    assert token.startswith("alx_")
    async with gateway.client() as client:
        headers = {"authorization": f"Bearer {token}"}
        assert (await client.get("/", headers=headers)).status_code == 200
        assert (await invoke(cli, users_app, ["disable", "eve"])).exit_code == 0
        assert (await client.get("/zipkin/api/v2/services", headers=headers)).status_code == 401
    stored = await gateway.accounts.list_tokens("eve")
    assert all(token not in repr(row.token_hash) for row, _ in stored)
    exported = tmp_path / "audit.jsonl"
    assert (await invoke(cli, audit_app, ["export", "--output", str(exported)])).exit_code == 0
    lines = [json.loads(line) for line in exported.read_text().splitlines()]
    # The home page visit is audited too ("request"), like every request but the probes.
    assert ("request", "allowed", "/") in [(ln["action"], ln["result"], ln["path"]) for ln in lines]
    changes = [
        (line["action"], line["result"])
        for line in lines
        if line["action"] not in ("zipkin.api", "request")
    ]
    assert changes == [
        ("user.add", "success"),
        ("user.add", "failure"),
        ("token.create", "success"),
        ("user.disable", "success"),
    ]
    assert all(
        line["actor"].startswith("cli:")
        for line in lines
        if "." in line["action"] and line["action"].startswith(("user", "token"))
    )
    assert (await invoke(cli, audit_app, ["verify"])).exit_code == 0
