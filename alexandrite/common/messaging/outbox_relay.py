"""The relay that moves committed events from a service's outbox to RabbitMQ.

Rows are claimed with ``FOR UPDATE SKIP LOCKED`` so that several relays (several replicas of a
service) never publish the same row at once. A row is marked published only after the broker
confirmed it; a crash between the two republishes it, which the consumers' inbox absorbs.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from datetime import UTC, datetime

from opentelemetry.instrumentation.utils import suppress_instrumentation
from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from alexandrite.common.messaging.broker import Broker, BrokerUnavailable
from alexandrite.common.messaging.event import Event
from alexandrite.common.messaging.publisher import publish_event
from alexandrite.common.messaging.tables import MessagingTables

__all__ = ["OutboxRelay"]

_log = logging.getLogger(__name__)


class OutboxRelay:
    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        tables: MessagingTables,
        broker: Broker,
        batch_size: int = 100,
        poll_interval_s: float = 1.0,
    ) -> None:
        self._sessions = sessions
        self._outbox = tables.outbox
        self._broker = broker
        self._batch_size = batch_size
        self._poll_interval_s = poll_interval_s
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def wake(self) -> None:
        """Called after a commit that wrote events: publish now rather than at the next poll."""
        self._wake.set()

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="outbox-relay")

    async def stop(self) -> None:
        task = self._task
        if task is None:
            return
        # A cancel that lands just as a commit wakes the relay can be swallowed by
        # asyncio.wait_for on Python 3.11: cancel until the task is really done.
        while not task.done():
            task.cancel()
            await asyncio.wait({task}, timeout=1)

    async def pending(self) -> int:
        async with self._sessions() as session:
            await session.connection()
            with suppress_instrumentation():
                # Counted in the database: a backlog from a broker outage can be large.
                count = await session.execute(
                    select(func.count())
                    .select_from(self._outbox)
                    .where(self._outbox.c.published_at.is_(None))
                )
            return int(count.scalar_one())

    async def _run(self) -> None:
        backoff = self._poll_interval_s
        while True:
            try:
                published = await self.relay_once()
                backoff = self._poll_interval_s
            except asyncio.CancelledError:
                raise
            except BrokerUnavailable as exc:
                _log.warning("outbox relay waits for the broker: %s", exc)
                published = 0
                backoff = min(backoff * 2, 10.0)
            except Exception:
                _log.exception("outbox relay failed; retrying")
                published = 0
                backoff = min(backoff * 2, 10.0)
            if published >= self._batch_size:
                continue
            self._wake.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=backoff)

    async def relay_once(self) -> int:
        """Publish up to one batch of unpublished events; return how many were published."""
        if not self._broker.ready:
            raise BrokerUnavailable("not connected to RabbitMQ")
        published_ids = []
        failure: BrokerUnavailable | None = None
        async with self._sessions() as session, session.begin():
            # Claiming and marking rows is housekeeping across orders, run on every poll: as
            # spans it would be root traces of its own that nobody searches for, at a cost on
            # every poll (docs/performance.md). Each publish keeps its span, in its order's trace.
            # The connection is checked out first, outside the suppression: a pool connection
            # opened inside it stays untraced for whoever uses it later (seen in tests).
            await session.connection()
            with suppress_instrumentation():
                rows = (
                    await session.execute(
                        select(self._outbox)
                        .where(self._outbox.c.published_at.is_(None))
                        .order_by(self._outbox.c.occurred_at)
                        .limit(self._batch_size)
                        .with_for_update(skip_locked=True)
                    )
                ).all()
            for row in rows:
                event = Event(
                    id=row.id,
                    routing_key=row.routing_key,
                    source=row.source,
                    order_id=row.order_id,
                    data=row.data,
                    occurred_at=row.occurred_at,
                    trace_headers=row.trace_headers,
                )
                try:
                    await publish_event(self._broker, event)
                except BrokerUnavailable as exc:
                    failure = exc
                    break
                published_ids.append(row.id)
            # Keep what the broker confirmed even when a later publish of the batch failed.
            if published_ids:
                with suppress_instrumentation():
                    await session.execute(
                        update(self._outbox)
                        .where(self._outbox.c.id.in_(published_ids))
                        .values(published_at=datetime.now(UTC))
                    )
        if failure is not None:
            raise failure
        return len(published_ids)
