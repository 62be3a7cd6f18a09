"""A service's unit of work as its handlers see it: one transaction, its events, and the
service's own repository (``uow.orders``, ``uow.reviews``, ``uow.jobs``) instead of a session.

Handlers are written against a small protocol (``EventUnitOfWork`` plus the repository), so a
unit test hands them an in-memory fake and no database. The real one wraps the shared
``UnitOfWork`` (outbox, inbox, one transaction) and builds the SQLAlchemy repository on its
session once it is open:

    class SqlShopUnitOfWork(RepositoryUnitOfWork[SqlOrderRepository]):
        def _repository(self, session): return SqlOrderRepository(session)
        @property
        def orders(self): return self.repository

    handlers = ShopHandlers(SqlShopUnitOfWork.factory(units_of_work), ...)
    work = SqlShopUnitOfWork.joining(uow)   # inside a consumer's open unit of work
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from types import TracebackType
from typing import Generic, Protocol, Self, TypeVar

from sqlalchemy.ext.asyncio import AsyncSession

from alexandrite.common.contracts import EventPayload
from alexandrite.common.unit_of_work import UnitOfWork

__all__ = ["EventUnitOfWork", "RepositoryUnitOfWork"]

R = TypeVar("R")


class EventUnitOfWork(Protocol):
    """One transaction: open it, raise events in it, commit it (or leave to roll back)."""

    async def __aenter__(self) -> Self: ...

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None: ...

    async def publish(self, payload: EventPayload) -> object:
        """Write the event to the outbox in this transaction (alexandrite.common.contracts)."""
        ...

    async def commit(self) -> None: ...


class RepositoryUnitOfWork(ABC, Generic[R]):
    """The shared unit of work with a service's repository over its session."""

    def __init__(self, inner: UnitOfWork, already_open: bool = False) -> None:
        self._inner = inner
        self._already_open = already_open
        self._open: R | None = self._repository(inner.session) if already_open else None

    @abstractmethod
    def _repository(self, session: AsyncSession) -> R:
        """The service's repository over this transaction's session."""

    @classmethod
    def joining(cls, uow: UnitOfWork) -> Self:
        """Work inside a unit of work someone else opened (a consumer's, with its inbox)."""
        return cls(uow, already_open=True)

    @classmethod
    def factory(cls, units_of_work: Callable[[], UnitOfWork]) -> Callable[[], Self]:
        """A fresh one per use case, each on a fresh shared unit of work."""
        return lambda: cls(units_of_work())

    @property
    def repository(self) -> R:
        if self._open is None:
            raise RuntimeError("the unit of work is not open: use `async with uow:`")
        return self._open

    async def __aenter__(self) -> Self:
        if not self._already_open:
            await self._inner.__aenter__()
            self._open = self._repository(self._inner.session)
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if not self._already_open:
            self._open = None
            await self._inner.__aexit__(exc_type, exc, tb)

    async def publish(self, payload: EventPayload) -> object:
        return await self._inner.publish(payload)

    async def commit(self) -> None:
        await self._inner.commit()
