"""Failed logins slow the guesser down without locking anybody else out.

Failures are rows in PostgreSQL (at, user name, address), so the limits hold across restarts
and gateway replicas. Over a sliding window (15 minutes by default):

- a (user, address) pair has a few free failures, then waits an exponential backoff after
  each one (1 s, 2 s, 4 s … capped): the guesser at that address slows to a crawl, while the
  same user logging in from anywhere else is not affected;
- an address that fails for many users (a spray) is slowed, not locked: past its free
  failures it gets one attempt per growing delay (capped at a minute), so colleagues behind
  the same address wait seconds, never the whole window;
- a success clears that pair's failures only.

No failure count locks an account: five wrong passwords typed by an attacker elsewhere no
longer keep the real user out. Guessing stays bounded per address (about 3 + log2 of the
window per user, and the address's own ceiling across users); docs/security.md has the figures.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import delete, func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from alexandrite.gateway.settings import Settings
from alexandrite.gateway.store import LoginFailure

__all__ = ["LoginLimits", "Refusal", "backoff_s"]


@dataclass(frozen=True)
class Refusal:
    reason: str
    retry_after_s: int


def backoff_s(failures: int, free: int, cap_s: float) -> float:
    """Seconds to wait after the last failure: 0 while free, then 1, 2, 4 … up to `cap_s`."""
    if failures < free:
        return 0.0
    exponent = min(failures - free, 30)
    return float(min(2.0**exponent, cap_s))


@dataclass
class LoginLimits:
    sessions: async_sessionmaker[AsyncSession]
    window_s: int = 15 * 60
    free_per_pair: int = 3
    pair_cap_s: float = 300.0
    free_per_address: int = 20
    address_cap_s: float = 60.0

    @classmethod
    def from_settings(
        cls, sessions: async_sessionmaker[AsyncSession], settings: Settings
    ) -> LoginLimits:
        return cls(
            sessions,
            window_s=settings.login_window_s,
            free_per_pair=settings.login_free_failures_per_pair,
            pair_cap_s=settings.login_pair_backoff_max_s,
            free_per_address=settings.login_free_failures_per_address,
            address_cap_s=settings.login_address_delay_max_s,
        )

    async def refusal(
        self, username: str, address: str, now: datetime | None = None
    ) -> Refusal | None:
        """Why a login must wait before its password is even checked, or None."""
        now = now or datetime.now(UTC)
        since = now - timedelta(seconds=self.window_s)
        async with self.sessions() as session:
            pair = (
                await session.execute(
                    select(func.count(), func.max(LoginFailure.at)).where(
                        LoginFailure.username == username,
                        LoginFailure.address == address,
                        LoginFailure.at >= since,
                    )
                )
            ).one()
            spray = (
                await session.execute(
                    select(func.count(), func.max(LoginFailure.at)).where(
                        LoginFailure.address == address, LoginFailure.at >= since
                    )
                )
            ).one()
        waits = [
            (
                backoff_s(pair[0], self.free_per_pair, self.pair_cap_s),
                pair[1],
                "too many failed logins for this user from this address",
            ),
            (
                backoff_s(spray[0], self.free_per_address, self.address_cap_s),
                spray[1],
                "too many failed logins from this address",
            ),
        ]
        for wait, last, reason in waits:
            if wait and last is not None:
                remaining = (last + timedelta(seconds=wait) - now).total_seconds()
                if remaining > 0:
                    seconds = max(1, math.ceil(remaining))
                    return Refusal(f"{reason}; retry in {seconds} s", seconds)
        return None

    async def failed(self, username: str, address: str) -> None:
        async with self.sessions() as session, session.begin():
            session.add(
                LoginFailure(at=datetime.now(UTC), username=username[:64], address=address[:64])
            )
            # Keep the table small: nothing older than the window matters.
            cutoff = datetime.now(UTC) - timedelta(seconds=self.window_s)
            await session.execute(delete(LoginFailure).where(LoginFailure.at < cutoff))

    async def succeeded(self, username: str, address: str) -> None:
        async with self.sessions() as session, session.begin():
            await session.execute(
                delete(LoginFailure).where(
                    LoginFailure.username == username, LoginFailure.address == address
                )
            )
