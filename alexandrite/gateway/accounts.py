"""Users, sessions and API tokens: creating them, and resolving a request's credentials.

Every lookup re-reads the user, so disabling or deleting a user, or revoking a token, takes
effect on the very next request (no cached identity).
"""

from __future__ import annotations

import asyncio
import re
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from alexandrite.common.errors import Conflict, InvalidInput, NotFound
from alexandrite.gateway import credentials
from alexandrite.gateway.principal import ROLES, Principal
from alexandrite.gateway.store import ApiToken, SessionRow, User

__all__ = ["Accounts", "IssuedToken", "Resolution"]

_NAME = re.compile(r"^[a-z0-9][a-z0-9._-]{1,63}$")


@dataclass(frozen=True)
class IssuedToken:
    id: uuid.UUID
    user: str
    token: str
    expires_at: datetime


@dataclass(frozen=True)
class Resolution:
    """The outcome of reading credentials: a principal, or why there is none (for the audit)."""

    principal: Principal | None
    reason: str | None = None
    # A user name the credentials claimed even when refused (disabled user, expired token).
    claimed: str | None = None


def _now() -> datetime:
    return datetime.now(UTC)


async def _hash(password: str) -> str:
    try:
        return await asyncio.to_thread(credentials.hash_password, password)
    except ValueError as exc:
        raise InvalidInput(str(exc)) from exc


class Accounts:
    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self._sessions = sessions

    # users

    async def add_user(self, name: str, roles: list[str], password: str) -> User:
        if not _NAME.match(name):
            raise InvalidInput("a user name is 2-64 of a-z, 0-9, '.', '_', '-'")
        unknown = set(roles) - ROLES
        if not roles or unknown:
            raise InvalidInput(f"roles must be among {sorted(ROLES)}, got {sorted(roles)}")
        password_hash = await _hash(password)
        async with self._sessions() as session, session.begin():
            if await self._user(session, name) is not None:
                raise Conflict(f"user {name} exists")
            user = User(
                name=name,
                roles=sorted(set(roles)),
                password_hash=password_hash,
                disabled=False,
                created_at=_now(),
            )
            session.add(user)
        return user

    async def set_password(self, name: str, password: str) -> None:
        await self._update_user(name, password_hash=await _hash(password))

    async def set_disabled(self, name: str, disabled: bool) -> None:
        await self._update_user(name, disabled=disabled)
        if disabled:
            async with self._sessions() as session, session.begin():
                user = await self._user(session, name)
                assert user is not None
                await session.execute(delete(SessionRow).where(SessionRow.user_id == user.id))

    async def delete_user(self, name: str) -> None:
        async with self._sessions() as session, session.begin():
            result = await session.execute(delete(User).where(User.name == name))
            if result.rowcount == 0:  # type: ignore[attr-defined]
                raise NotFound(f"no user {name}")

    async def get_user(self, name: str) -> User | None:
        async with self._sessions() as session:
            return await self._user(session, name)

    async def list_users(self) -> list[User]:
        async with self._sessions() as session:
            return list((await session.scalars(select(User).order_by(User.name))).all())

    async def check_password(self, name: str, password: str) -> tuple[User | None, str]:
        """The user when the password is right and the user enabled, else None and why."""
        user = await self.get_user(name)
        if user is None:
            # Argon2 takes tens of milliseconds of CPU: off the event loop, and spent even for
            # an unknown name so that timing does not tell which names exist.
            await asyncio.to_thread(credentials.verify_password_of_nobody, password)
            return None, "unknown user"
        valid = await asyncio.to_thread(credentials.verify_password, password, user.password_hash)
        if not valid:
            return None, "wrong password"
        if user.disabled:
            return None, "user disabled"
        return user, "password accepted"

    # sessions

    async def open_session(self, user: User, ttl_s: int) -> tuple[str, Principal]:
        """A new session for `user`: the cookie value (shown once) and its principal."""
        cookie = credentials.new_secret()
        row = SessionRow(
            id_hash=credentials.digest(cookie),
            user_id=user.id,
            csrf_token=credentials.new_secret(),
            created_at=_now(),
            expires_at=_now() + timedelta(seconds=ttl_s),
        )
        async with self._sessions() as session, session.begin():
            session.add(row)
        return cookie, self._principal(user, row)

    async def close_session(self, session_hash: str) -> None:
        async with self._sessions() as session, session.begin():
            await session.execute(delete(SessionRow).where(SessionRow.id_hash == session_hash))

    async def resolve_session(self, cookie: str) -> Resolution:
        async with self._sessions() as session:
            found = (
                await session.execute(
                    select(SessionRow, User)
                    .join(User, User.id == SessionRow.user_id)
                    .where(SessionRow.id_hash == credentials.digest(cookie))
                )
            ).first()
        if found is None:
            return Resolution(None, "unknown session")
        row, user = found
        if user.disabled:
            return Resolution(None, "user disabled", user.name)
        if row.expires_at <= _now():
            return Resolution(None, "session expired", user.name)
        return Resolution(self._principal(user, row))

    # tokens

    async def create_token(self, name: str, ttl_days: int) -> IssuedToken:
        if ttl_days < 1:
            raise InvalidInput("a token lives at least one day")
        token = credentials.new_token()
        async with self._sessions() as session, session.begin():
            user = await self._user(session, name)
            if user is None:
                raise NotFound(f"no user {name}")
            row = ApiToken(
                user_id=user.id,
                token_hash=credentials.digest(token),
                created_at=_now(),
                expires_at=_now() + timedelta(days=ttl_days),
                revoked_at=None,
            )
            session.add(row)
        return IssuedToken(id=row.id, user=name, token=token, expires_at=row.expires_at)

    async def revoke_token(self, token_id: uuid.UUID) -> str:
        """Revoke one token; return its user's name."""
        async with self._sessions() as session, session.begin():
            row = await session.get(ApiToken, token_id)
            if row is None:
                raise NotFound(f"no token {token_id}")
            row.revoked_at = row.revoked_at or _now()
            user = await session.get(User, row.user_id)
            return user.name if user is not None else "?"

    async def list_tokens(self, name: str | None = None) -> list[tuple[ApiToken, str]]:
        query = select(ApiToken, User.name).join(User, User.id == ApiToken.user_id)
        if name is not None:
            query = query.where(User.name == name)
        async with self._sessions() as session:
            rows = (await session.execute(query.order_by(ApiToken.created_at))).all()
        return [(token, user) for token, user in rows]

    async def resolve_token(self, token: str) -> Resolution:
        async with self._sessions() as session:
            found = (
                await session.execute(
                    select(ApiToken, User)
                    .join(User, User.id == ApiToken.user_id)
                    .where(ApiToken.token_hash == credentials.digest(token))
                )
            ).first()
        if found is None:
            return Resolution(None, "unknown token")
        row, user = found
        if row.revoked_at is not None:
            return Resolution(None, "token revoked", user.name)
        if row.expires_at <= _now():
            return Resolution(None, "token expired", user.name)
        if user.disabled:
            return Resolution(None, "user disabled", user.name)
        return Resolution(
            Principal(user_id=user.id, name=user.name, roles=tuple(user.roles), via="token")
        )

    # helpers

    @staticmethod
    def _principal(user: User, row: SessionRow) -> Principal:
        return Principal(
            user_id=user.id,
            name=user.name,
            roles=tuple(user.roles),
            via="session",
            csrf_token=row.csrf_token,
            session_hash=row.id_hash,
        )

    @staticmethod
    async def _user(session: AsyncSession, name: str) -> User | None:
        user: User | None = await session.scalar(select(User).where(User.name == name))
        return user

    async def _update_user(self, name: str, **values: object) -> None:
        async with self._sessions() as session, session.begin():
            result = await session.execute(update(User).where(User.name == name).values(**values))
            if result.rowcount == 0:  # type: ignore[attr-defined]
                raise NotFound(f"no user {name}")
