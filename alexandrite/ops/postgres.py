"""PostgreSQL 15 (Debian's cluster 15/main) on 127.0.0.1:5432: start and stop (roles and
databases: ``postgres_roles``).

There is no systemd here, so the cluster is driven with `pg_ctlcluster --skip-systemctl-redirect`,
and admin SQL runs as the `postgres` OS user over the Unix socket (peer authentication).
"""

from __future__ import annotations

import logging
from pathlib import Path

from alexandrite.common import platform
from alexandrite.ops.commands import (
    install_file,
    port_is_open,
    run,
    tail,
    wait_until,
)
from alexandrite.ops.paths import DEPLOY_DIR

__all__ = [
    "POSTGRES_HOST",
    "POSTGRES_PORT",
    "ensure_postgres_running",
    "postgres_is_running",
    "stop_postgres",
]

log = logging.getLogger(__name__)

POSTGRES_HOST = platform.HOST
# deploy/postgresql/alexandrite.conf sets the same (tests/unit/test_port_literals.py checks it).
POSTGRES_PORT = platform.POSTGRESQL.default_port
VERSION = "15"
CLUSTER = "main"
_CONFIG = Path(f"/etc/postgresql/{VERSION}/{CLUSTER}/conf.d/alexandrite.conf")
_LOG = f"/var/log/postgresql/postgresql-{VERSION}-{CLUSTER}.log"


def postgres_is_running() -> bool:
    """True when the cluster's postmaster is up (pg_ctlcluster status exits 0)."""
    status = run(
        ["pg_ctlcluster", "--skip-systemctl-redirect", VERSION, CLUSTER, "status"], check=False
    )
    return status.returncode == 0


def _accepting_connections() -> bool:
    ready = run(
        ["pg_isready", "-q", "-h", POSTGRES_HOST, "-p", str(POSTGRES_PORT), "-t", "1"],
        check=False,
    )
    return ready.returncode == 0


def ensure_postgres_running(timeout: float = 60.0) -> None:
    """Start the cluster (creating it if the package left none) and wait until it accepts TCP."""
    if not Path(f"/etc/postgresql/{VERSION}/{CLUSTER}").exists():
        log.info("creating PostgreSQL cluster %s/%s", VERSION, CLUSTER)
        run(["pg_createcluster", VERSION, CLUSTER])
    changed = install_file(DEPLOY_DIR / "postgresql" / "alexandrite.conf", _CONFIG)
    running = postgres_is_running()
    if running and changed:
        # listen_addresses only changes on restart.
        log.info("restarting PostgreSQL to apply %s", _CONFIG)
        run(["pg_ctlcluster", "--skip-systemctl-redirect", VERSION, CLUSTER, "restart"])
    elif not running:
        log.info("starting PostgreSQL %s/%s", VERSION, CLUSTER)
        run(["pg_ctlcluster", "--skip-systemctl-redirect", VERSION, CLUSTER, "start"])
    waited = wait_until(
        _accepting_connections,
        what=f"PostgreSQL on {POSTGRES_HOST}:{POSTGRES_PORT}",
        timeout=timeout,
        explain=lambda: tail(_LOG),
    )
    log.info("PostgreSQL accepts connections (waited %.1f s)", waited)


def stop_postgres(timeout: float = 60.0) -> None:
    """Stop the cluster (fast mode: open sessions are disconnected); no-op when stopped."""
    if not postgres_is_running():
        log.info("PostgreSQL is already stopped")
        return
    log.info("stopping PostgreSQL %s/%s", VERSION, CLUSTER)
    # Debian's pg_ctlcluster takes its own options (the mode) before the cluster, and passes
    # pg_ctl's (the wait timeout) only after "--": "-t" in its own place is "Unknown option".
    run(
        [
            "pg_ctlcluster",
            "--skip-systemctl-redirect",
            "--mode",
            "fast",
            VERSION,
            CLUSTER,
            "stop",
            "--",
            "-t",
            str(int(timeout)),
        ],
        timeout=timeout + 10,
    )
    wait_until(
        lambda: not port_is_open(POSTGRES_HOST, POSTGRES_PORT),
        what="PostgreSQL shutdown",
        timeout=timeout,
    )
