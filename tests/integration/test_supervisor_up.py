"""A second `alexandrite up` leaves running programs alone: supervisord restarts only what changed
(its configuration, or our code), and `--restart` restarts our programs on request.

A real supervisord in a state directory of the test's own, with small sleeper programs; one of
them is "ours" (``python -m alexandrite_…``, named like a service), as the services are.
"""

from __future__ import annotations

import asyncio
import shutil
import sys
import tempfile
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import pytest_asyncio

from alexandrite.ops import supervisor as supervisor_module
from alexandrite.ops.paths import Paths
from alexandrite.ops.program import Program
from alexandrite.ops.supervisor import Supervisor
from tests.support.polling import eventually

pytestmark = pytest.mark.timeout(120)

_SLEEPER = "import time\nwhile True:\n    time.sleep(3600)\n"


@pytest_asyncio.fixture
async def supervisor() -> AsyncIterator[Supervisor]:
    # A short path: the control socket's name must fit in sun_path (108 bytes).
    state = Path(tempfile.mkdtemp(prefix="alx-sv-"))
    (state / "alexandrite_sleeper.py").write_text(_SLEEPER)
    running = Supervisor(Paths(state=state, cache=state / "cache"))
    try:
        yield running
    finally:
        await asyncio.to_thread(running.shutdown)
        shutil.rmtree(state, ignore_errors=True)


def _programs(state: Path, other_setting: str = "a") -> list[Program]:
    return [
        # Ours, named like a service: run from the state directory, where `-m` finds the
        # sleeper module.
        Program(
            name="shop",
            command=[sys.executable, "-m", "alexandrite_sleeper"],
            directory=state,
        ),
        Program(
            name="other",
            command=[sys.executable, "-c", "import time; time.sleep(10**6)"],
            environment={"SETTING": other_setting},
            directory=state,
        ),
    ]


async def _pids(supervisor: Supervisor) -> dict[str, int]:
    """The pid of each program once all of them are RUNNING."""

    async def running() -> dict[str, int] | None:
        info = await asyncio.to_thread(supervisor.status)
        if len(info) == 2 and all(item["statename"] == "RUNNING" for item in info):
            return {item["name"]: int(item["pid"]) for item in info}
        return None

    return await eventually(running, timeout=30, what="both programs running")


async def _apply(supervisor: Supervisor, programs: list[Program], restart: bool = False) -> None:
    await asyncio.to_thread(supervisor.apply, programs, restart=restart)


async def test_up_twice_keeps_the_pids_of_unchanged_programs(supervisor: Supervisor) -> None:
    programs = _programs(supervisor.paths.state)
    await _apply(supervisor, programs)
    first = await _pids(supervisor)
    await _apply(supervisor, programs)
    assert await _pids(supervisor) == first


async def test_a_changed_program_is_restarted_alone(supervisor: Supervisor) -> None:
    state = supervisor.paths.state
    await _apply(supervisor, _programs(state))
    first = await _pids(supervisor)
    await _apply(supervisor, _programs(state, other_setting="b"))

    async def other_restarted() -> dict[str, int] | None:
        pids = await _pids(supervisor)
        return pids if pids["other"] != first["other"] else None

    pids = await eventually(other_restarted, timeout=30, what="the changed program restarted")
    assert pids["shop"] == first["shop"]


async def test_new_code_restarts_our_programs_and_only_them(
    supervisor: Supervisor, monkeypatch: pytest.MonkeyPatch
) -> None:
    state = supervisor.paths.state
    monkeypatch.setattr(supervisor_module, "code_hash", lambda: "before")
    await _apply(supervisor, _programs(state))
    first = await _pids(supervisor)
    monkeypatch.setattr(supervisor_module, "code_hash", lambda: "after")
    await _apply(supervisor, _programs(state))

    async def ours_restarted() -> dict[str, int] | None:
        pids = await _pids(supervisor)
        return pids if pids["shop"] != first["shop"] else None

    pids = await eventually(ours_restarted, timeout=30, what="our program restarted")
    assert pids["other"] == first["other"]


async def test_restart_on_request_restarts_our_programs_even_when_unchanged(
    supervisor: Supervisor,
) -> None:
    programs = _programs(supervisor.paths.state)
    await _apply(supervisor, programs)
    first = await _pids(supervisor)
    await _apply(supervisor, programs, restart=True)
    pids = await _pids(supervisor)
    assert pids["shop"] != first["shop"]
    assert pids["other"] == first["other"]


def test_the_code_hash_follows_the_package_files(tmp_path: Path) -> None:
    (tmp_path / "module.py").write_text("x = 1\n")
    before = supervisor_module.code_hash(tmp_path)
    assert supervisor_module.code_hash(tmp_path) == before
    (tmp_path / "__pycache__").mkdir()
    (tmp_path / "__pycache__" / "module.cpython-311.pyc").write_bytes(b"cache")
    assert supervisor_module.code_hash(tmp_path) == before
    (tmp_path / "module.py").write_text("x = 2\n")
    assert supervisor_module.code_hash(tmp_path) != before
