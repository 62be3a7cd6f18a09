"""The RabbitMQ integration's promises: one effect per message, poison to the dead-letter queue,
and no event lost while the broker is down."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator

import aio_pika
import httpx
import pytest
import pytest_asyncio

from alexandrite.common.db import Database
from alexandrite.common.messaging.broker import Broker
from alexandrite.common.messaging.consumer import EventConsumer
from alexandrite.common.messaging.event import Event
from alexandrite.common.messaging.publisher import publish_event
from alexandrite.common.messaging.topology import EVENTS_EXCHANGE, QueueSpec
from alexandrite.common.unit_of_work import UnitOfWork, UnitOfWorkFactory
from alexandrite.ops import rabbitmq
from alexandrite.ops.scratch_database import fresh_database
from alexandrite.shop.store import tables
from tests.integration.conftest import Platform
from tests.integration.flow import place_order, wait_for_crm_status
from tests.support.polling import eventually

pytestmark = pytest.mark.integration


@pytest_asyncio.fixture(loop_scope="session")
async def database() -> AsyncIterator[Database]:
    database = Database.connect(await fresh_database("shop", "messaging"))
    yield database
    await database.close()


class Recorder:
    """A handler that counts its calls and can be told to fail."""

    def __init__(self, fail: bool = False) -> None:
        self.calls: list[uuid.UUID] = []
        self.fail = fail

    async def __call__(self, uow: UnitOfWork, event: Event) -> None:
        self.calls.append(event.id)
        if self.fail:
            raise RuntimeError("this handler always fails")


async def _consumer(
    platform: Platform, database: Database, handler: Recorder
) -> tuple[Broker, EventConsumer, str]:
    routing_key = f"test.{uuid.uuid4().hex[:8]}"
    broker = Broker(platform.amqp_url, "messaging-test")
    consumer = EventConsumer(
        broker,
        QueueSpec(f"test-{routing_key}", (routing_key,), (100, 100, 100)),
        {routing_key: handler},
        UnitOfWorkFactory(database.sessions, tables, "messaging-test"),
        max_attempts=3,
        # One at a time, in order: a later message proves the earlier ones were handled.
        prefetch=1,
    )
    broker.start()
    assert await broker.wait_connected(10)
    return broker, consumer, routing_key


async def _dead_letters(amqp_url: str, queue: str) -> int:
    connection = await aio_pika.connect(amqp_url)
    async with connection:
        channel = await connection.channel()
        declared = await channel.declare_queue(queue, passive=True)
        return declared.declaration_result.message_count or 0


async def test_the_same_message_delivered_twice_has_one_effect(
    platform: Platform, database: Database
) -> None:
    handler = Recorder()
    broker, _, routing_key = await _consumer(platform, database, handler)
    try:
        event = Event(routing_key=routing_key, data={"n": 1}, source="test")
        await publish_event(broker, event)
        await publish_event(broker, event)  # a redelivery: same message id
        await eventually(lambda: _settled(handler, 1), what="the first delivery")
        # With prefetch 1 the copy is handled before this marker, so seeing the marker means
        # the copy had its chance to take effect.
        other = Event(routing_key=routing_key, data={"n": 2}, source="test")
        await publish_event(broker, other)
        await eventually(lambda: _settled(handler, 2), what="the marker message")
    finally:
        await broker.close()
    assert handler.calls == [event.id, other.id]


async def _settled(handler: Recorder, count: int) -> bool:
    return len(handler.calls) >= count


async def test_a_failing_message_is_retried_then_dead_lettered(
    platform: Platform, database: Database
) -> None:
    handler = Recorder(fail=True)
    broker, consumer, routing_key = await _consumer(platform, database, handler)
    try:
        event = Event(routing_key=routing_key, data={}, source="test")
        await publish_event(broker, event)

        async def dead() -> bool:
            return await _dead_letters(platform.amqp_url, f"{consumer.queue_name}.dead") == 1

        await eventually(dead, what="the message in the dead-letter queue")
    finally:
        await broker.close()
    assert handler.calls == [event.id] * 3


async def test_a_malformed_message_goes_straight_to_the_dead_letter_queue(
    platform: Platform, database: Database
) -> None:
    handler = Recorder()
    broker, consumer, routing_key = await _consumer(platform, database, handler)
    try:
        exchange = await broker.channel.get_exchange(EVENTS_EXCHANGE)
        await exchange.publish(aio_pika.Message(b"{not json"), routing_key=routing_key)

        async def dead() -> bool:
            return await _dead_letters(platform.amqp_url, f"{consumer.queue_name}.dead") == 1

        await eventually(dead, what="the poison message in the dead-letter queue")
    finally:
        await broker.close()
    assert handler.calls == []


@pytest.mark.disruptive
async def test_a_submit_succeeds_while_rabbitmq_is_down_and_its_event_arrives_later(
    platform: Platform,
) -> None:
    async with httpx.AsyncClient(timeout=30) as client:
        order_id = await place_order(client, platform)
        await asyncio.to_thread(rabbitmq.stop_rabbitmq)
        try:
            response = await client.post(f"{platform.shop.url}/api/v1/orders/{order_id}/submit")
            assert response.status_code == 202, response.text
        finally:
            await asyncio.to_thread(rabbitmq.ensure_rabbitmq_running)
        await wait_for_crm_status(client, platform, order_id, "in_review")
