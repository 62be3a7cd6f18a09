"""``alexandrite users|tokens|audit``: the support gateway's users, API tokens and audit log.

Every change made here is itself written to the audit log (actor ``cli:<OS user>``). The
commands connect as the gateway's application role (``GATEWAY_DATABASE_URL`` overrides), which
can append to the audit log but never change it.
"""

from __future__ import annotations

import asyncio
import getpass
import json
import sys
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
from rich.console import Console
from rich.table import Table

from alexandrite.common.errors import AppError

__all__ = ["audit_app", "tokens_app", "users_app"]

users_app = typer.Typer(help="Users of the support gateway and their roles.", no_args_is_help=True)
tokens_app = typer.Typer(
    help="API tokens for scripts (Authorization: Bearer).", no_args_is_help=True
)
audit_app = typer.Typer(
    help="The gateway's append-only, hash-chained audit log.", no_args_is_help=True
)

console = Console()
errors = Console(stderr=True)
T = TypeVar("T")


def _actor() -> str:
    return f"cli:{getpass.getuser()}"


def _audit_log(database: Any) -> Any:
    """The audit log with the gateway's anchor file (``GATEWAY_AUDIT_ANCHOR_FILE``)."""
    from alexandrite.gateway.audit_anchor import AnchorFile
    from alexandrite.gateway.audit_log import AuditLog
    from alexandrite.gateway.settings import Settings

    settings = Settings()
    return AuditLog(
        database.sessions,
        AnchorFile(settings.audit_anchor_file, settings.audit_anchor_every_rows),
    )


def _run(work: Callable[[Any], Awaitable[T]]) -> T:
    """Run `work(database)` against the gateway's database; AppErrors exit 1 with their text."""
    from alexandrite.common.db import Database
    from alexandrite.gateway.settings import Settings

    async def main() -> T:
        database = Database.connect(Settings().database_url, pool_size=2)
        try:
            return await work(database)
        finally:
            await database.close()

    try:
        return asyncio.run(main())
    except AppError as exc:
        errors.print(f"[red]{exc.detail}[/red]")
        raise typer.Exit(1) from exc


async def _record(database: Any, action: str, result: str, detail: str) -> None:
    from alexandrite.gateway.audit_log import AuditEntry

    # Anchored at once: no gateway may be running to anchor it later.
    await _audit_log(database).append(
        AuditEntry(action=action, result=result, actor=_actor(), detail=detail), anchor=True
    )


async def _audited(database: Any, action: str, detail: str, change: Awaitable[T]) -> T:
    """Do `change` and audit it, whether it succeeds or fails."""
    try:
        value = await change
    except AppError as exc:
        await _record(database, action, "failure", f"{detail}: {exc.detail}")
        raise
    await _record(database, action, "success", detail)
    return value


def _read_password(from_stdin: bool) -> str:
    if from_stdin:
        return sys.stdin.readline().rstrip("\r\n")
    first = typer.prompt("Password", hide_input=True)
    if typer.prompt("Again", hide_input=True) != first:
        errors.print("[red]the passwords differ[/red]")
        raise typer.Exit(1)
    return str(first)


def _accounts(database: Any) -> Any:
    from alexandrite.gateway.accounts import Accounts

    return Accounts(database.sessions)


# users


@users_app.command("add")
def users_add(
    name: str,
    role: Annotated[list[str], typer.Option("--role", help="support, admin (repeatable)")],
    password_stdin: Annotated[
        bool, typer.Option("--password-stdin", help="read the password from stdin")
    ] = False,
) -> None:
    """Add a user with one or more roles."""
    password = _read_password(password_stdin)
    detail = f"{name} roles={','.join(sorted(role))}"

    async def work(database: Any) -> None:
        change = _accounts(database).add_user(name, role, password)
        await _audited(database, "user.add", detail, change)

    _run(work)
    console.print(f"user {name} added ({', '.join(sorted(role))})")


def _user_change(action: str, name: str, method: str, *args: Any) -> None:
    async def work(database: Any) -> None:
        change = getattr(_accounts(database), method)(name, *args)
        await _audited(database, action, name, change)

    _run(work)


@users_app.command("disable")
def users_disable(name: str) -> None:
    """Disable a user: their sessions end and their tokens stop working at once."""
    _user_change("user.disable", name, "set_disabled", True)
    console.print(f"user {name} disabled")


@users_app.command("enable")
def users_enable(name: str) -> None:
    """Enable a disabled user again."""
    _user_change("user.enable", name, "set_disabled", False)
    console.print(f"user {name} enabled")


@users_app.command("delete")
def users_delete(name: str) -> None:
    """Delete a user with their sessions and tokens (the audit log keeps their name)."""
    _user_change("user.delete", name, "delete_user")
    console.print(f"user {name} deleted")


@users_app.command("password")
def users_password(
    name: str,
    password_stdin: Annotated[bool, typer.Option("--password-stdin")] = False,
) -> None:
    """Set a user's password."""
    _user_change("user.password", name, "set_password", _read_password(password_stdin))
    console.print(f"password of {name} changed")


@users_app.command("list")
def users_list() -> None:
    """List users, their roles and whether they are enabled."""

    async def work(database: Any) -> list[Any]:
        users: list[Any] = await _accounts(database).list_users()
        return users

    table = Table("user", "roles", "state", "created")
    for user in _run(work):
        state = "disabled" if user.disabled else "enabled"
        table.add_row(user.name, ", ".join(user.roles), state, user.created_at.isoformat())
    console.print(table)


# tokens


@tokens_app.command("create")
def tokens_create(
    name: str,
    days: Annotated[int, typer.Option(help="days until the token expires")] = 90,
) -> None:
    """Create an API token for a user and print it (it is shown only this once)."""

    async def work(database: Any) -> Any:
        change = _accounts(database).create_token(name, days)
        return await _audited(database, "token.create", f"{name} days={days}", change)

    issued = _run(work)
    errors.print(
        f"token {issued.id} for {name}, expires {issued.expires_at:%Y-%m-%d}; "
        "store it now, it cannot be shown again:"
    )
    print(issued.token)


@tokens_app.command("revoke")
def tokens_revoke(token_id: uuid.UUID) -> None:
    """Revoke a token by its id (see `tokens list`)."""

    async def work(database: Any) -> str:
        change = _accounts(database).revoke_token(token_id)
        user: str = await _audited(database, "token.revoke", str(token_id), change)
        return user

    console.print(f"token {token_id} of {_run(work)} revoked")


@tokens_app.command("list")
def tokens_list(name: Annotated[str | None, typer.Argument()] = None) -> None:
    """List tokens (never their values)."""

    async def work(database: Any) -> list[Any]:
        tokens: list[Any] = await _accounts(database).list_tokens(name)
        return tokens

    table = Table("id", "user", "created", "expires", "revoked")
    for token, user in _run(work):
        revoked = token.revoked_at.isoformat() if token.revoked_at else ""
        table.add_row(
            str(token.id),
            user,
            f"{token.created_at:%Y-%m-%d %H:%M}",
            f"{token.expires_at:%Y-%m-%d}",
            revoked,
        )
    console.print(table)


# audit


def _jsonable(row: Any) -> dict[str, Any]:
    from alexandrite.gateway.audit_log import row_dict

    values = row_dict(row)
    values["at"] = values["at"].isoformat()
    return values


@audit_app.command("verify")
def audit_verify(
    anchor: Annotated[
        str | None, typer.Option(help="SEQ:HASH of a head recorded earlier, which must still be")
    ] = None,
) -> None:
    """Check the hash chain and the anchors kept outside the database; exit 0 only when both
    are intact (else 1, naming the first bad row)."""
    expected: tuple[int, str] | None = None
    if anchor is not None:
        seq, _, digest = anchor.partition(":")
        if not seq.isdigit() or len(digest) != 64:
            raise typer.BadParameter("anchor is SEQ:HASH (hash: 64 hex digits)")
        expected = (int(seq), digest)

    async def work(database: Any) -> Any:
        return await _audit_log(database).verify(expected)

    report = _run(work)
    if report.ok:
        console.print(report.describe())
        return
    errors.print(f"[red]{report.describe()}[/red]")
    raise typer.Exit(1)


@audit_app.command("tail")
def audit_tail(lines: Annotated[int, typer.Option("--lines", "-n")] = 20) -> None:
    """Show the newest entries."""
    from alexandrite.gateway.audit_log import AuditLog

    async def work(database: Any) -> list[Any]:
        return await AuditLog(database.sessions).tail(lines)

    table = Table("seq", "at", "user", "role", "action", "path", "result", "status", "client")
    for row in _run(work):
        table.add_row(
            str(row.seq),
            f"{row.at:%Y-%m-%d %H:%M:%S}",
            row.actor or "-",
            row.role or "-",
            row.action,
            row.path or "",
            row.result,
            str(row.status_code or ""),
            row.client or "",
        )
    console.print(table)


@audit_app.command("export")
def audit_export(
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="file (default stdout)")
    ] = None,
    after: Annotated[int, typer.Option(help="only rows with a greater sequence number")] = 0,
) -> None:
    """Write the log as JSON lines, hashes included, for archiving or a SIEM."""
    from alexandrite.gateway.audit_log import AuditLog

    async def work(database: Any) -> int:
        count = 0
        handle = output.open("w", encoding="utf-8") if output else sys.stdout
        try:
            async for row in AuditLog(database.sessions).rows(after):
                handle.write(json.dumps(_jsonable(row), sort_keys=True) + "\n")
                count += 1
        finally:
            if output:
                handle.close()
        return count

    count = _run(work)
    if output:
        console.print(f"{count} entries written to {output}")
