"""One robust connection to RabbitMQ per service, opened in the background.

A service starts and serves even while the broker is down: the connection is retried with
backoff, ``ready`` tells the readiness probe, and the outbox keeps events until the relay can
publish them. Once connected, aio-pika's robust connection restores channels and consumers.

Publishes go through a channel of their own, replaced after a publish that failed: RabbitMQ
3.10 rejects every publish, for good, of a channel whose first publish to a quorum queue meets
the death of that queue's leader's node, while a new channel's publishes are accepted at once
(seen in tests/cluster; the consumers' channel keeps consuming meanwhile).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable

import aio_pika
from aio_pika.abc import AbstractChannel, AbstractRobustChannel, AbstractRobustConnection

__all__ = ["Broker", "BrokerUnavailable"]

_log = logging.getLogger(__name__)


class BrokerUnavailable(ConnectionError):
    """The broker cannot take a message right now; the caller keeps it and retries."""


OnConnected = Callable[[AbstractRobustChannel], Awaitable[None]]


class Broker:
    def __init__(self, url: str, name: str) -> None:
        self._url = url
        self._name = name
        self._connection: AbstractRobustConnection | None = None
        self._channel: AbstractRobustChannel | None = None
        self._publishing: AbstractChannel | None = None
        self._connected = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._on_connected: list[OnConnected] = []

    def on_connected(self, callback: OnConnected) -> None:
        """Run ``callback`` with the channel once connected (declare queues, start consumers)."""
        self._on_connected.append(callback)

    def start(self) -> None:
        self._task = asyncio.create_task(self._connect_until_done(), name=f"{self._name}-broker")

    @property
    def ready(self) -> bool:
        return (
            self._connection is not None
            and not self._connection.is_closed
            and self._channel is not None
            and not self._channel.is_closed
        )

    async def wait_connected(self, timeout: float) -> bool:
        try:
            await asyncio.wait_for(self._connected.wait(), timeout)
        except TimeoutError:
            return False
        return True

    @property
    def channel(self) -> AbstractRobustChannel:
        if self._channel is None or not self.ready:
            raise BrokerUnavailable("not connected to RabbitMQ")
        return self._channel

    async def publishing_channel(self) -> AbstractChannel:
        """The channel (publisher confirms on) that publishes go through, opened on first use."""
        if self._connection is None or not self.ready:
            raise BrokerUnavailable("not connected to RabbitMQ")
        channel = self._publishing
        if channel is None or channel.is_closed:
            channel = await self._connection.channel(publisher_confirms=True)
            self._publishing = channel
        return channel

    async def discard_publishing_channel(self) -> None:
        """After a publish that was rejected or not confirmed: the next one gets a new channel."""
        channel, self._publishing = self._publishing, None
        if channel is not None and not channel.is_closed:
            with contextlib.suppress(Exception):
                await channel.close()

    async def _connect_until_done(self) -> None:
        delay = 0.5
        while True:
            try:
                connection = await aio_pika.connect_robust(
                    self._url,
                    client_properties={"connection_name": self._name},
                    reconnect_interval=1,
                )
                channel = await connection.channel(publisher_confirms=True)
                for callback in self._on_connected:
                    await callback(channel)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                _log.warning("RabbitMQ not reachable yet (%s); retrying in %.1fs", exc, delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 10.0)
                continue
            self._connection, self._channel = connection, channel
            self._connected.set()
            _log.info("connected to RabbitMQ")
            return

    async def close(self) -> None:
        if self._task is not None and not self._task.done():
            self._task.cancel()
        if self._connection is not None:
            await self._connection.close()
