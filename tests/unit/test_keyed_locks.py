"""Events of one order take effect in delivery order; other orders are not held up."""

from __future__ import annotations

import asyncio

from alexandrite.common.messaging.keyed_locks import KeyedLocks


async def test_holders_of_one_key_run_in_arrival_order_and_others_in_parallel() -> None:
    locks = KeyedLocks()
    finished: list[str] = []
    release_first = asyncio.Event()

    async def handle(key: str, name: str, wait: asyncio.Event | None = None) -> None:
        async with locks.hold(key):
            if wait is not None:
                await wait.wait()
            finished.append(name)

    first = asyncio.create_task(handle("order-1", "in_review", release_first))
    second = asyncio.create_task(handle("order-1", "approved"))
    other = asyncio.create_task(handle("order-2", "queued"))
    await other  # not blocked by order-1
    assert finished == ["queued"]
    release_first.set()
    await asyncio.gather(first, second)
    assert finished == ["queued", "in_review", "approved"]
    assert len(locks) == 0  # nothing kept once nobody waits


async def test_no_key_is_never_serialised() -> None:
    locks = KeyedLocks()
    inside = asyncio.Event()

    async def holder() -> None:
        async with locks.hold(None):
            inside.set()
            await asyncio.sleep(3600)

    task = asyncio.create_task(holder())
    await inside.wait()
    async with locks.hold(None):
        pass  # entered while the other holds "no key"
    task.cancel()
