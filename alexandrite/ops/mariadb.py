"""MariaDB 10.11 (Debian) on 127.0.0.1:3306: Zipkin's trace store.

No systemd here: the server is started with start-stop-daemon, and admin SQL runs as the OS
root user, whom Debian's MariaDB lets in over the Unix socket (unix_socket authentication).
"""

from __future__ import annotations

import logging
import re
import shutil
from pathlib import Path

from alexandrite.common import platform
from alexandrite.ops.commands import install_file, port_is_open, run, tail, wait_until
from alexandrite.ops.paths import DEPLOY_DIR

__all__ = [
    "MARIADB_HOST",
    "MARIADB_PORT",
    "ensure_mariadb_database",
    "ensure_mariadb_running",
    "mariadb_is_running",
    "stop_mariadb",
]

log = logging.getLogger(__name__)

MARIADB_HOST = platform.HOST
# Given on the command line; deploy/mariadb/alexandrite.cnf's own is the spec's default
# (tests/unit/test_port_literals.py checks it).
MARIADB_PORT = platform.MARIADB.port
_DAEMON = "/usr/sbin/mariadbd"
_RUN_DIR = Path("/run/mysqld")
_DATA_DIR = Path("/var/lib/mysql")
_LOG_DIR = Path("/var/log/mysql")
_LOG = str(_LOG_DIR / "error.log")
_CONFIG = Path("/etc/mysql/mariadb.conf.d/90-alexandrite.cnf")
_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,31}$")


def mariadb_is_running() -> bool:
    """True when the server answers `mariadb-admin ping` over its Unix socket."""
    return run(["mariadb-admin", "--connect-timeout=2", "ping"], check=False).returncode == 0


def _own_by_mysql(directory: Path) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    shutil.chown(directory, user="mysql", group="mysql")


def ensure_mariadb_running(timeout: float = 60.0) -> None:
    """Start MariaDB bound to 127.0.0.1 (initialising its data directory if empty)."""
    changed = install_file(DEPLOY_DIR / "mariadb" / "alexandrite.cnf", _CONFIG)
    running = mariadb_is_running()
    if running and not changed:
        log.info("MariaDB is already running")
        return
    if running:
        log.info("restarting MariaDB to apply %s", _CONFIG)
        stop_mariadb(timeout)
    # /run is a tmpfs on a booted machine: the socket directory may be gone.
    _own_by_mysql(_RUN_DIR)
    _own_by_mysql(_LOG_DIR)
    if not (_DATA_DIR / "mysql").is_dir():
        log.info("initialising MariaDB data directory %s", _DATA_DIR)
        run(["mariadb-install-db", "--user=mysql", f"--datadir={_DATA_DIR}"], timeout=300)
    log.info("starting MariaDB")
    run(
        [
            "start-stop-daemon", "--start", "--oknodo", "--background",
            "--exec", _DAEMON, "--",
            "--user=mysql", f"--bind-address={MARIADB_HOST}", f"--port={MARIADB_PORT}",
        ]
    )  # fmt: skip
    waited = wait_until(
        lambda: mariadb_is_running() and port_is_open(MARIADB_HOST, MARIADB_PORT),
        what=f"MariaDB on {MARIADB_HOST}:{MARIADB_PORT}",
        timeout=timeout,
        interval=0.2,
        explain=lambda: tail(_LOG),
    )
    log.info("MariaDB answers (waited %.1f s)", waited)


def stop_mariadb(timeout: float = 60.0) -> None:
    """Stop MariaDB cleanly and wait for its process to exit; no-op when stopped."""
    log.info("stopping MariaDB")
    # --retry TERM/<timeout>/KILL/5: a clean shutdown first, a kill only if it hangs.
    run(
        [
            "start-stop-daemon", "--stop", "--oknodo", "--exec", _DAEMON,
            "--retry", f"TERM/{int(timeout)}/KILL/5",
        ],
        timeout=timeout + 10,
    )  # fmt: skip


def _literal(value: str) -> str:
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def _check_name(name: str) -> str:
    if not _NAME.match(name):
        raise ValueError(f"not a plain MariaDB name: {name!r}")
    return name


def ensure_mariadb_database(db: str, user: str, password: str) -> None:
    """Create the database and a user with all rights on it, from loopback; sets the password."""
    database = _check_name(db)
    account = _check_name(user)
    log.info("ensuring MariaDB database %s for user %s", database, account)
    statements = [f"CREATE DATABASE IF NOT EXISTS `{database}`"]
    # Clients reach the server as 'localhost' over the socket and as '127.0.0.1' over TCP
    # (JDBC); one account per host, same password.
    for host in ("localhost", "127.0.0.1"):
        who = f"'{account}'@'{host}'"
        statements += [
            f"CREATE USER IF NOT EXISTS {who} IDENTIFIED BY {_literal(password)}",
            f"ALTER USER {who} IDENTIFIED BY {_literal(password)}",
            f"GRANT ALL PRIVILEGES ON `{database}`.* TO {who}",
        ]
    # Through stdin: the password stays out of the process list.
    run(["mariadb", "--batch"], input_text=";\n".join(statements) + ";\n")
