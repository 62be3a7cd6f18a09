"""``alexandrite down --all`` stops everything ``up`` started and exits 0, also when run twice or
after a server was stopped by hand; the stack is brought back for the tests that follow."""

from __future__ import annotations

import socket
import subprocess
import sys
from pathlib import Path

import pytest

from alexandrite.common import platform

pytestmark = [pytest.mark.e2e, pytest.mark.disruptive]

CLI = [str(Path(sys.executable).with_name("alexandrite"))]

# Every port of local mode (DESIGN.md §7) that `up` opens.
PLATFORM_PORTS = {
    name: port for process in platform.PROCESSES for name, port in process.ports().items()
}


def _open_ports() -> dict[str, int]:
    found = {}
    for name, port in PLATFORM_PORTS.items():
        with socket.socket() as sock:
            sock.settimeout(0.5)
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                found[name] = port
    return found


def _cli(*args: str, timeout: float = 600) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*CLI, *args], capture_output=True, text=True, timeout=timeout, check=False
    )


@pytest.fixture
def stack_restored() -> object:
    yield None
    restored = _cli("up")
    assert restored.returncode == 0, restored.stdout + restored.stderr


def test_down_all_stops_every_server_and_port_and_is_a_no_op_the_second_time(
    stack_restored: object,
) -> None:
    assert _open_ports(), "the stack should be running before the test"
    first = _cli("down", "--all")
    assert first.returncode == 0, first.stdout + first.stderr
    assert _open_ports() == {}
    second = _cli("down", "--all")
    assert second.returncode == 0, second.stdout + second.stderr
    assert _open_ports() == {}


def test_down_all_succeeds_when_postgresql_was_stopped_by_hand(stack_restored: object) -> None:
    up = _cli("up")
    assert up.returncode == 0, up.stdout + up.stderr
    stopped = subprocess.run(
        ["service", "postgresql", "stop"], capture_output=True, text=True, check=False
    )
    assert stopped.returncode == 0, stopped.stdout + stopped.stderr
    down = _cli("down", "--all")
    assert down.returncode == 0, down.stdout + down.stderr
    assert _open_ports() == {}
