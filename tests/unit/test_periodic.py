"""The services' background loop (alexandrite/common/periodic.py): a failing round is reported
and the loop goes on, a wake runs the next round long before the interval, stop ends it."""

from __future__ import annotations

from alexandrite.common.periodic import Periodic
from tests.support.polling import eventually


async def test_a_failed_round_is_reported_and_the_next_round_still_runs() -> None:
    rounds: list[int] = []
    errors: list[Exception] = []

    async def work() -> None:
        rounds.append(len(rounds))
        if len(rounds) == 1:
            raise ConnectionRefusedError("the database is away")

    loop = Periodic("test-loop", work, interval_s=0.01, on_error=errors.append)
    loop.start()
    try:
        await eventually(lambda: _now(len(rounds) >= 3), timeout=30, what="three rounds")
    finally:
        await loop.stop()
    assert [type(error) for error in errors] == [ConnectionRefusedError]


async def test_a_wake_runs_the_next_round_before_the_interval_and_stop_ends_the_loop() -> None:
    rounds: list[int] = []

    async def work() -> None:
        rounds.append(1)

    # An hour between rounds: only the wake can bring the second one.
    loop = Periodic("test-loop", work, interval_s=3600, on_error=lambda exc: None)
    loop.start()
    await eventually(lambda: _now(len(rounds) == 1), timeout=30, what="the first round")
    loop.wake()
    await eventually(lambda: _now(len(rounds) == 2), timeout=30, what="the woken round")
    await loop.stop()
    loop.wake()  # no loop left to wake
    assert len(rounds) == 2


async def _now(value: bool) -> bool:
    return value
