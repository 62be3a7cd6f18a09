"""Failed logins, limited per user name and per client address over a sliding window.

Failures are rows in PostgreSQL, so the limit holds across restarts and gateway replicas. A
successful login clears that user's failures; the address's stay until they age out.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import delete, func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from alexandrite.gateway.store import LoginFailure

__all__ = ["LoginLimits"]


@dataclass
class LoginLimits:
    sessions: async_sessionmaker[AsyncSession]
    window_s: int
    max_per_user: int
    max_per_address: int

    async def refusal(self, username: str, address: str) -> str | None:
        """Why a login must be refused before its password is even checked, or None."""
        since = datetime.now(UTC) - timedelta(seconds=self.window_s)
        async with self._session() as session:
            per_user = await session.scalar(
                select(func.count())
                .select_from(LoginFailure)
                .where(LoginFailure.username == username, LoginFailure.at >= since)
            )
            per_address = await session.scalar(
                select(func.count())
                .select_from(LoginFailure)
                .where(LoginFailure.address == address, LoginFailure.at >= since)
            )
        if (per_user or 0) >= self.max_per_user:
            return f"too many failed logins for this user; retry in {self.window_s // 60} min"
        if (per_address or 0) >= self.max_per_address:
            return f"too many failed logins from this address; retry in {self.window_s // 60} min"
        return None

    async def failed(self, username: str, address: str) -> None:
        async with self._session() as session, session.begin():
            session.add(
                LoginFailure(at=datetime.now(UTC), username=username[:64], address=address[:64])
            )
            # Keep the table small: nothing older than the window matters.
            cutoff = datetime.now(UTC) - timedelta(seconds=self.window_s)
            await session.execute(delete(LoginFailure).where(LoginFailure.at < cutoff))

    async def succeeded(self, username: str) -> None:
        async with self._session() as session, session.begin():
            await session.execute(delete(LoginFailure).where(LoginFailure.username == username))

    def _session(self) -> AsyncSession:
        return self.sessions()
