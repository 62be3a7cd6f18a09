"""Debian's init script can stop the broker our start launched (issue 12: it used to hang).

`/etc/init.d/rabbitmq-server stop` runs `rabbitmqctl stop /var/run/rabbitmq/pid`, which waits
for that pid file; our start now has the node write it there (deploy/rabbitmq/rabbitmq-env.conf).
Disruptive: it stops the shared broker, and starts it again whatever happens.
"""

from __future__ import annotations

import subprocess

import pytest

from alexandrite.ops.rabbitmq import (
    amqp_answers,
    ensure_rabbitmq_running,
    rabbitmq_is_running,
    start_rabbitmq,
    stop_rabbitmq,
)
from alexandrite.ops.rabbitmq_probes import PID_FILE, broker_pid

pytestmark = pytest.mark.disruptive


def test_service_rabbitmq_server_stop_returns_and_stops_the_broker_we_started() -> None:
    ensure_rabbitmq_running()
    if not PID_FILE.exists():
        # A broker launched before the fix (no pid file where the init script looks): the
        # check is about our start, so start it the current way first.
        stop_rabbitmq()
        start_rabbitmq()
    pid = broker_pid()
    assert pid is not None and PID_FILE.read_text().strip() == str(pid)
    try:
        # Before the fix this never returned: the timeout turns a hang into a failure.
        stopped = subprocess.run(
            ["service", "rabbitmq-server", "stop"],
            check=False,
            capture_output=True,
            text=True,
            timeout=90,
        )
        assert stopped.returncode == 0, stopped.stdout + stopped.stderr
        assert not rabbitmq_is_running()
        assert not amqp_answers()
    finally:
        start_rabbitmq()
    assert broker_pid() is not None
