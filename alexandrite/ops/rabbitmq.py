"""RabbitMQ 3.10 (Debian) on loopback: AMQP 5672, management 15672, Prometheus metrics 15692.

Configuration comes from deploy/rabbitmq/ (copied into /etc/rabbitmq/). Readiness is judged
by talking to the broker (rabbitmq_probes) rather than by `rabbitmqctl`, whose Erlang VM
alone takes about a second to start.
"""

from __future__ import annotations

import logging
import os
import pwd
import signal
import subprocess
import time
from pathlib import Path

from alexandrite.ops.commands import (
    ReadinessTimeout,
    install_file,
    port_is_open,
    run,
    tail,
    wait_until,
)
from alexandrite.ops.paths import DEPLOY_DIR
from alexandrite.ops.rabbitmq_probes import (
    AMQP_PORT,
    MANAGEMENT_PORT,
    NODENAME,
    PID_FILE,
    PROMETHEUS_PORT,
    RABBITMQ_HOST,
    amqp_answers,
    broker_pid,
    broker_ready,
    node_registered,
    process_gone,
)

__all__ = [
    "AMQP_PORT",
    "MANAGEMENT_PORT",
    "PROMETHEUS_PORT",
    "RABBITMQ_HOST",
    "amqp_answers",
    "ensure_rabbitmq_running",
    "rabbitmq_is_running",
    "start_rabbitmq",
    "stop_rabbitmq",
]

log = logging.getLogger(__name__)

_ETC = Path("/etc/rabbitmq")
_CONFIG_FILES = ("rabbitmq.conf", "rabbitmq-env.conf", "enabled_plugins")
_LOG = f"/var/log/rabbitmq/{NODENAME}.log"
# What the node prints before its own logging starts (prelaunch errors land here).
_CONSOLE_LOG = Path("/var/log/rabbitmq/console.log")
_WHAT = f"RabbitMQ on {RABBITMQ_HOST}:{AMQP_PORT}"
# Launched server processes, kept so that they are reaped (and not reported as leaked).
_LAUNCHED: list[subprocess.Popen[bytes]] = []


def rabbitmq_is_running() -> bool:
    """True when the broker's process is alive (it may still be booting)."""
    return broker_pid() is not None or amqp_answers()


def _install_configuration() -> bool:
    changed = False
    for name in _CONFIG_FILES:
        changed |= install_file(DEPLOY_DIR / "rabbitmq" / name, _ETC / name)
    return changed


def _ensure_pid_directory() -> None:
    # The node runs as the rabbitmq user, which cannot create a directory in /var/run.
    PID_FILE.parent.mkdir(parents=True, exist_ok=True)
    user = pwd.getpwnam("rabbitmq")
    os.chown(PID_FILE.parent, user.pw_uid, user.pw_gid)


def _launch() -> subprocess.Popen[bytes]:
    _ensure_pid_directory()
    # Start epmd ourselves so that it binds loopback whatever started Erlang before.
    run(["epmd", "-address", "127.0.0.1", "-daemon"])
    wait_until(lambda: not node_registered(), what="epmd to forget the old node", timeout=15)
    log.info("starting RabbitMQ node %s", NODENAME)
    # In the foreground rather than -detached, so that a node that dies while booting
    # (a name still taken, a bad config) is noticed at once and its console output kept.
    with _CONSOLE_LOG.open("ab") as console:
        process = subprocess.Popen(
            ["rabbitmq-server"],
            stdin=subprocess.DEVNULL,
            stdout=console,
            stderr=subprocess.STDOUT,
            cwd="/var/lib/rabbitmq",
            start_new_session=True,
        )
    _LAUNCHED[:] = [launched for launched in _LAUNCHED if launched.poll() is None]
    _LAUNCHED.append(process)
    return process


def _wait_for_launch(process: subprocess.Popen[bytes], timeout: float) -> None:
    def ready() -> bool:
        if process.poll() is not None:
            raise RuntimeError(
                f"rabbitmq-server exited with {process.returncode} while starting: "
                f"{tail(str(_CONSOLE_LOG), 30)}"
            )
        return broker_ready()

    wait_until(ready, what=_WHAT, timeout=timeout, explain=lambda: tail(str(_CONSOLE_LOG), 30))


def start_rabbitmq(timeout: float = 60.0) -> float:
    """Start the broker and wait until AMQP, management and metrics answer; return seconds."""
    started = time.monotonic()
    _install_configuration()
    if rabbitmq_is_running():
        wait_until(broker_ready, what=_WHAT, timeout=timeout, explain=lambda: tail(_LOG))
    else:
        process = _launch()
        try:
            _wait_for_launch(process, timeout / 2)
        except ReadinessTimeout as exc:
            # Seen twice in ~40 restarts on a busy machine: a node that never printed a line. A
            # second launch has always come up, so one retry beats failing the whole run.
            log.warning("RabbitMQ did not come up, launching it again: %s", exc)
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
            pid = broker_pid()
            if pid is not None:
                os.kill(pid, signal.SIGKILL)
            _wait_for_launch(_launch(), timeout / 2)
    waited = time.monotonic() - started
    log.info("RabbitMQ answers AMQP and metrics (after %.1f s)", waited)
    return waited


def ensure_rabbitmq_running(timeout: float = 60.0) -> None:
    """Configure RabbitMQ for loopback and start it unless it is already up."""
    if _install_configuration() and rabbitmq_is_running():
        log.info("RabbitMQ configuration changed: restarting the broker")
        stop_rabbitmq(timeout)
    start_rabbitmq(timeout)


def stop_rabbitmq(timeout: float = 60.0, *, graceful: bool = True) -> float:
    """Stop the broker and wait until its process is gone; return the seconds it took.

    Graceful (SIGTERM) takes about 6 s: RabbitMQ 3.10 waits a fixed 5 s for the management
    statistics to stop (fixed upstream in 3.13). graceful=False is SIGKILL, a broker crash,
    which takes well under a second; persistent messages survive both.
    """
    started = time.monotonic()
    pid = broker_pid()
    if pid is None:
        if not amqp_answers():
            log.info("RabbitMQ is already stopped")
            return 0.0
        # A broker without a pid file (started by hand): ask it through the CLI.
        log.info("stopping RabbitMQ through rabbitmqctl")
        run(["rabbitmqctl", "-q", "stop"], timeout=timeout)
        wait_until(
            lambda: not port_is_open(RABBITMQ_HOST, AMQP_PORT),
            what="RabbitMQ shutdown",
            timeout=timeout,
        )
    else:
        log.info("stopping RabbitMQ (pid %d, %s)", pid, "SIGTERM" if graceful else "SIGKILL")
        # SIGTERM is the broker's graceful shutdown; it spares rabbitmqctl's VM start-up.
        os.kill(pid, signal.SIGTERM if graceful else signal.SIGKILL)
        # The pid file goes and the listeners close early in the shutdown: wait for the process.
        wait_until(
            lambda: process_gone(pid),
            what="RabbitMQ shutdown",
            timeout=timeout,
            interval=0.05,
            explain=lambda: tail(_LOG),
        )
    waited = time.monotonic() - started
    log.info("RabbitMQ stopped (after %.1f s)", waited)
    return waited
