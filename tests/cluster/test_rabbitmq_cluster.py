"""Orders survive the loss of a RabbitMQ node: the 3-node cluster with quorum queues, under load.

The checks follow RabbitMQ's own Jepsen suite (its queue test counts messages sent, received,
lost and duplicated after partitions and node kills): here the "messages" are whole orders
through Shop, CRM and MES, with the CRM approving and the MES printing by itself.

    lost        orders that never reach a terminal status (completed, failed, rejected, …)
    duplicated  events applied twice: a status entered twice in an order's history, or an
                order with more than one production job
    drained     every consumer and retry queue of the cluster empty afterwards
    dead        the dead-letter queues hold exactly the poison message this test sent

Scenario 1 stops one node gracefully; scenario 2 kills (SIGKILL) the node holding the leader
of the CRM's queue. Orders are in flight both times; the node comes back before the checks.

    make test-cluster        # or: pytest -m cluster tests/cluster   (about 2 minutes)
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import aio_pika
import httpx
import pytest
import pytest_asyncio

from alexandrite.common.messaging.broker import Broker, BrokerUnavailable
from alexandrite.common.messaging.event import Event
from alexandrite.common.messaging.publisher import publish_event
from alexandrite.common.messaging.topology import DLX, declare_events_exchange, queue_arguments
from alexandrite.ops import rabbitmq_cluster as cluster
from alexandrite.ops.paths import Paths
from tests.integration.conftest import Platform
from tests.integration.flow import place_order, submit
from tests.integration.own_platform import own_platform
from tests.support.polling import eventually

pytestmark = [pytest.mark.cluster, pytest.mark.timeout(600)]

TERMINAL = {"completed", "failed", "rejected", "cancelled"}
ORDERS = 16
POISON_ID = "poison-" + uuid.uuid4().hex[:8]
RESULTS = Paths.from_env().state / "cluster-test-results.json"


@pytest.fixture(scope="module")
def running_cluster() -> Iterator[Paths]:
    """The cluster, started for this module unless it already ran (then left running)."""
    paths = Paths.from_env()
    was_running = cluster.cluster_members() == {node.name for node in cluster.NODES}
    cluster.ensure_rabbitmq_cluster_running(paths)
    yield paths
    if not was_running:
        cluster.stop_rabbitmq_cluster(paths)


@contextlib.asynccontextmanager
async def platform_on_cluster(directory: Path, suffix: str) -> AsyncIterator[Platform]:
    """Shop, CRM, MES and files in-process, on their own databases and cluster vhost."""
    vhost = f"alexandrite-cluster-{suffix}"
    with contextlib.suppress(ConnectionError):
        await asyncio.to_thread(cluster.delete_vhost, vhost)
    amqp_url = await asyncio.to_thread(cluster.ensure_vhost, vhost)
    settings: dict[str, dict[str, Any]] = {
        "common": {"queue_type": "quorum"},
        "crm": {"auto_approve": True},
        "mes": {
            "simulate_printers": True,
            "printers": 4,
            "failure_rate": 0.2,
            "failure_seed": 14,
            "print_seconds_max": 1.0,
        },
    }
    async with own_platform(directory, suffix, amqp_url=amqp_url, settings=settings) as running:
        yield running
    with contextlib.suppress(ConnectionError):
        await asyncio.to_thread(cluster.delete_vhost, vhost)


def _wait_until_whole(what: str) -> None:
    """Every node up, answering AMQP, seeing the two others and no partition (each asked)."""
    deadline = time.monotonic() + 120
    while problems := cluster.cluster_problems():
        assert time.monotonic() < deadline, f"{what}: {problems}"
        time.sleep(0.5)


@pytest_asyncio.fixture(loop_scope="session")
async def platform(running_cluster: Paths, tmp_path: Path) -> AsyncIterator[Platform]:
    # A scenario starts on a whole cluster only: the previous one's node must be back in every
    # node's view, not just in the first one's that answers.
    await asyncio.to_thread(_wait_until_whole, "the cluster before the scenario")
    async with platform_on_cluster(tmp_path, "c" + uuid.uuid4().hex[:6]) as running:
        yield running


async def _send_poison(amqp_url: str) -> None:
    """A message no consumer can parse: it must land in crm.events.dead, once."""
    connection = await aio_pika.connect(amqp_url)
    async with connection:
        channel = await connection.channel(publisher_confirms=True)
        exchange = await channel.get_exchange("alexandrite.events")
        await exchange.publish(
            aio_pika.Message(b"{not json", message_id=POISON_ID, delivery_mode=2),
            routing_key="order.submitted",
        )


async def _orders_under_fault(
    client: httpx.AsyncClient, platform: Platform, fault: Any
) -> list[str]:
    """Place ORDERS orders; submit a third, run `fault()`, then submit the rest.

    The first third is in flight when the node goes (its events in queues, outboxes and
    consumers); the rest can only get through the cluster that remains.
    """
    first = ORDERS // 3
    order_ids = list(await asyncio.gather(*(place_order(client, platform) for _ in range(ORDERS))))
    await asyncio.gather(*(submit(client, platform, order_id) for order_id in order_ids[:first]))
    await asyncio.to_thread(fault)
    await asyncio.gather(*(submit(client, platform, order_id) for order_id in order_ids[first:]))
    return order_ids


async def _statuses(client: httpx.AsyncClient, platform: Platform, ids: list[str]) -> list[Any]:
    orders = []
    for order_id in ids:
        response = await client.get(f"{platform.shop.url}/api/v1/orders/{order_id}")
        assert response.status_code == 200, response.text
        orders.append(response.json())
    return orders


def _vhost_queues(vhost: str) -> dict[str, int]:
    queues = cluster.management_get(f"queues/{vhost}")
    return {q["name"]: int(q.get("messages", 0)) for q in queues}


async def _check_jepsen_style(
    client: httpx.AsyncClient, platform: Platform, order_ids: list[str], scenario: str
) -> dict[str, Any]:
    async def all_terminal() -> list[Any] | None:
        orders = await _statuses(client, platform, order_ids)
        return orders if all(o["status"] in TERMINAL for o in orders) else None

    started = time.monotonic()
    try:
        orders = await eventually(all_terminal, timeout=180, what="every order to finish")
    except AssertionError:
        orders = await _statuses(client, platform, order_ids)
    lost = [o["id"] for o in orders if o["status"] not in TERMINAL]
    twice = [
        o["id"]
        for o in orders
        if any(n > 1 for n in Counter(h["status"] for h in o["history"]).values())
    ]
    jobs_per_order = {}
    for order_id in order_ids:
        response = await client.get(
            f"{platform.mes.url}/api/v1/jobs", params={"order_id": order_id}
        )
        jobs_per_order[order_id] = len(response.json())
    two_jobs = [order_id for order_id, jobs in jobs_per_order.items() if jobs > 1]
    vhost = platform.amqp_url.rsplit("/", 1)[1]

    def drained() -> dict[str, int] | None:
        queues = _vhost_queues(vhost)
        busy = {n: m for n, m in queues.items() if not n.endswith(".dead") and m}
        return None if busy else queues

    queues = await eventually(
        lambda: asyncio.to_thread(drained), timeout=60, what="the queues to drain"
    )
    dead = {name: n for name, n in queues.items() if name.endswith(".dead") and n}
    dead_ids = [
        m["properties"].get("message_id")
        for m in cluster.management_request(
            "POST",
            f"queues/{vhost}/crm.events.dead/get",
            {"count": 10, "ackmode": "ack_requeue_true", "encoding": "auto"},
        )
    ]
    figures = {
        "scenario": scenario,
        "orders": len(order_ids),
        "final_statuses": dict(Counter(o["status"] for o in orders)),
        "lost": len(lost),
        "duplicated": len(twice) + len(two_jobs),
        "queues_not_drained": 0,
        "dead_lettered": dead,
        "seconds_to_finish": round(time.monotonic() - started, 1),
        "queue_types": sorted({q["type"] for q in cluster.management_get(f"queues/{vhost}")}),
    }
    if lost:
        figures["diagnosis"] = await asyncio.to_thread(_diagnosis, vhost)
    previous = json.loads(RESULTS.read_text()) if RESULTS.exists() else {}
    RESULTS.write_text(json.dumps({**previous, scenario: figures}, indent=2))
    print(json.dumps(figures))
    assert lost == [], f"lost orders: {lost}"
    assert twice == [] and two_jobs == [], f"applied twice: {twice} {two_jobs}"
    assert dead == {"crm.events.dead": 1} and dead_ids == [POISON_ID]
    assert figures["queue_types"] == ["quorum"]
    return figures


def _restore(paths: Paths, node: cluster.ClusterNode) -> None:
    cluster.start_node(node, paths)
    _wait_until_whole(f"{node.name} back in the cluster")
    # Queues declared while it was away get their member on it back (as an operator would).
    cluster.grow_quorum_queues(node)


async def _all_members_in_raft(queue: str, vhost: str) -> dict[str, str]:
    """The queue's members once all three have a Raft role (a fair start for the kill)."""

    def whole() -> dict[str, str] | None:
        members = cluster.quorum_members(queue, vhost)
        return members if sorted(members.values()) == ["follower", "follower", "leader"] else None

    members: dict[str, str] = await eventually(
        lambda: asyncio.to_thread(whole), timeout=60, what=f"{queue}'s three members in Raft"
    )
    return members


def _diagnosis(vhost: str) -> dict[str, Any]:
    """Where events stand when orders were lost: each consumer queue's Raft members, depth and
    consumers, and each channel's unconfirmed publishes (a publisher stuck on a node)."""
    queues = cluster.management_get(f"queues/{vhost}")
    channels = cluster.management_get(f"vhosts/{vhost}/channels")
    return {
        "cluster": cluster.cluster_problems(),
        "queues": {
            q["name"]: {
                "messages": q.get("messages"),
                "consumers": q.get("consumers"),
                "members": cluster.quorum_members(q["name"], vhost),
            }
            for q in queues
            if q["name"].endswith(".events")
        },
        "channels": [
            {
                "connection": c.get("connection_details", {}).get("name"),
                "node": c.get("node"),
                "unconfirmed": c.get("messages_unconfirmed"),
                "unacknowledged": c.get("messages_unacknowledged"),
            }
            for c in channels
        ],
    }


async def test_orders_in_flight_all_finish_once_when_one_node_is_stopped(
    platform: Platform, running_cluster: Paths
) -> None:
    node = cluster.NODES[2]
    await _send_poison(platform.amqp_url)
    async with httpx.AsyncClient(timeout=30) as client:
        order_ids = await _orders_under_fault(
            client, platform, lambda: cluster.stop_node(node, running_cluster, graceful=True)
        )
        try:
            assert node.name not in cluster.cluster_members()
            await _check_jepsen_style(client, platform, order_ids, "one node stopped")
        finally:
            await asyncio.to_thread(_restore, running_cluster, node)


async def test_orders_in_flight_all_finish_once_when_the_queue_leaders_node_is_killed(
    platform: Platform, running_cluster: Paths
) -> None:
    vhost = platform.amqp_url.rsplit("/", 1)[1]
    members = await _all_members_in_raft("crm.events", vhost)
    leader = next(n for n in cluster.NODES if members.get(n.name) == "leader")
    await _send_poison(platform.amqp_url)
    async with httpx.AsyncClient(timeout=30) as client:
        order_ids = await _orders_under_fault(
            client, platform, lambda: cluster.stop_node(leader, running_cluster, graceful=False)
        )
        try:
            # Two thirds of the orders were submitted after the kill: they reached the CRM
            # only through a leader elected among the two survivors.
            assert leader.name not in cluster.cluster_members()
            await _check_jepsen_style(client, platform, order_ids, "queue leader's node killed")
        finally:
            await asyncio.to_thread(_restore, running_cluster, leader)


async def test_a_publisher_whose_first_publish_meets_the_leaders_death_gets_through_anew(
    running_cluster: Paths,
) -> None:
    """RabbitMQ 3.10 nacks, for good, every publish of a channel whose first publish to a quorum
    queue comes just after the queue leader's node died (a new channel is accepted at once).
    The services' publisher drops its channel after a failed publish, so the outbox relay's
    retries get through: here within seconds, as the relay would retry."""
    await asyncio.to_thread(_wait_until_whole, "the cluster before the scenario")
    vhost = "alexandrite-cluster-p" + uuid.uuid4().hex[:6]
    await asyncio.to_thread(cluster.ensure_vhost, vhost)
    setup = await aio_pika.connect(f"{cluster.CLUSTER_AMQP_URL}{vhost}")
    broker: Broker | None = None
    leader: cluster.ClusterNode | None = None
    try:
        channel = await setup.channel()
        events = await declare_events_exchange(channel)
        queue = await channel.declare_queue(
            "crm.events", durable=True, arguments=queue_arguments("quorum", DLX, "crm.events")
        )
        await queue.bind(events, routing_key="order.submitted")
        members = await _all_members_in_raft("crm.events", vhost)
        leader = next(n for n in cluster.NODES if members.get(n.name) == "leader")
        survivor = next(n for n in cluster.NODES if n is not leader)
        # Straight to a surviving node: its connection lives on, only the leader goes.
        broker = Broker(f"amqp://guest:guest@127.0.0.1:{survivor.amqp_port}/{vhost}", "p-test")
        broker.start()
        assert await broker.wait_connected(30)
        await asyncio.to_thread(cluster.stop_node, leader, running_cluster, graceful=False)
        refused = 0
        deadline = time.monotonic() + 30
        while True:
            try:
                await publish_event(broker, Event("order.submitted", {"n": refused}, "test"))
                break
            except BrokerUnavailable:
                refused += 1
                assert time.monotonic() < deadline, f"{refused} publishes refused in 30 s"
                await asyncio.sleep(0.1)
        for n in range(5):  # and the channel that got through keeps working
            await publish_event(broker, Event("order.submitted", {"n": n}, "test"))
        print(json.dumps({"scenario": "first publish after the leader died", "refused": refused}))
    finally:
        if broker is not None:
            await broker.close()
        await setup.close()
        if leader is not None:
            await asyncio.to_thread(_restore, running_cluster, leader)
        with contextlib.suppress(ConnectionError):
            await asyncio.to_thread(cluster.delete_vhost, vhost)
