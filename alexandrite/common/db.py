"""The async database engine and session factory of one service (PostgreSQL via asyncpg)."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import text
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

__all__ = ["Database"]

# Each service declares its own ``class Base(DeclarativeBase)`` in its store: subclasses of one
# declarative base would share its metadata and class registry, and two services imported in one
# process (the in-process test stack) would collide on the ``outbox`` table.


@dataclass
class Database:
    engine: AsyncEngine
    sessions: async_sessionmaker[AsyncSession]

    @classmethod
    def connect(cls, url: str, pool_size: int = 10) -> Database:
        """At most ``2 × pool_size`` connections, opened when first needed and then kept.

        Not ``pool_size`` kept plus as many "overflow" ones: SQLAlchemy closes an overflow
        connection at check-in, so a service busier than its pool opened (TLS handshake,
        SCRAM authentication, a new PostgreSQL backend) and closed a connection per
        transaction past it, at the cost of both sides (docs/performance.md). The bound is the
        same as before; only connections are not thrown away any more.
        """
        engine = create_async_engine(
            url,
            pool_size=2 * pool_size,
            max_overflow=0,
            pool_pre_ping=True,
            pool_timeout=10,
        )
        return cls(engine=engine, sessions=async_sessionmaker(engine, expire_on_commit=False))

    async def ping(self) -> bool:
        try:
            async with self.engine.connect() as connection:
                await connection.execute(text("SELECT 1"))
        except Exception:
            return False
        return True

    async def close(self) -> None:
        await self.engine.dispose()
