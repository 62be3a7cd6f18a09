"""The unit of work: the only transaction boundary of a use case.

State changes and the events they raise commit together: ``publish`` writes the event to the
outbox inside the same transaction, with the trace context of the current span, so the relay can
publish it later in the request's trace even if the broker is down right now.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable
from types import TracebackType

from opentelemetry import propagate
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from alexandrite.common.contracts import EventPayload
from alexandrite.common.messaging.event import Event
from alexandrite.common.messaging.tables import MessagingTables

__all__ = ["UnitOfWork", "UnitOfWorkFactory"]


class UnitOfWork:
    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        tables: MessagingTables,
        source: str,
        on_events_committed: Callable[[], None] | None = None,
        latency: Callable[[], float] | None = None,
    ) -> None:
        self._sessions = sessions
        self._tables = tables
        self._source = source
        self._on_events_committed = on_events_committed
        self._latency = latency
        self._session: AsyncSession | None = None
        self.events: list[Event] = []

    @property
    def session(self) -> AsyncSession:
        if self._session is None:
            raise RuntimeError("the unit of work is not open: use `async with uow:`")
        return self._session

    async def __aenter__(self) -> UnitOfWork:
        # The db_latency_ms fault: an async wait, so a slow database never blocks the loop.
        delay = self._latency() if self._latency is not None else 0.0
        if delay > 0:
            await asyncio.sleep(delay)
        self._session = self._sessions()
        await self._session.begin()
        self.events = []
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        session = self.session
        try:
            if exc_type is not None and session.in_transaction():
                await session.rollback()
        finally:
            # Closing without a commit rolls back too, but leaves what was read loaded (a
            # rollback would expire it), so read-only use cases can return their objects.
            await session.close()
            self._session = None

    async def commit(self) -> None:
        await self.session.commit()
        if self.events and self._on_events_committed is not None:
            self._on_events_committed()

    async def publish(self, payload: EventPayload) -> Event:
        """Write the event (its contract's model, alexandrite.common.contracts) to the outbox in
        this transaction, in the current trace context."""
        carrier: dict[str, str] = {}
        propagate.inject(carrier)
        event = Event(
            routing_key=payload.routing_key,
            data=payload.data(),
            source=self._source,
            order_id=payload.order_id,
            trace_headers=carrier,
        )
        await self.session.execute(
            self._tables.outbox.insert().values(
                id=event.id,
                routing_key=event.routing_key,
                source=event.source,
                order_id=event.order_id,
                data=event.data,
                trace_headers=event.trace_headers,
                occurred_at=event.occurred_at,
            )
        )
        self.events.append(event)
        return event

    async def claim_message(self, message_id: uuid.UUID, routing_key: str) -> bool:
        """Record a consumed message; False when it was handled before (a redelivery).

        A concurrent duplicate waits on the row lock and then sees the conflict, so two copies
        of one message never both take effect.
        """
        result = await self.session.execute(
            pg_insert(self._tables.inbox)
            .values(message_id=message_id, routing_key=routing_key)
            .on_conflict_do_nothing(index_elements=["message_id"])
            .returning(self._tables.inbox.c.message_id)
        )
        return result.first() is not None


class UnitOfWorkFactory:
    """Builds a fresh unit of work per use case; handed to handlers and consumers."""

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        tables: MessagingTables,
        source: str,
        on_events_committed: Callable[[], None] | None = None,
        latency: Callable[[], float] | None = None,
    ) -> None:
        self._sessions = sessions
        self._tables = tables
        self._source = source
        self.on_events_committed = on_events_committed
        # Seconds to wait before each transaction (an injected fault); None: never.
        self.latency = latency

    def __call__(self) -> UnitOfWork:
        return UnitOfWork(
            self._sessions, self._tables, self._source, self.on_events_committed, self.latency
        )
