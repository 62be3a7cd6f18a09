"""Running system commands and waiting for servers: the two things every ops module does.

Errors:
    SystemCommandError: a command exited non-zero (carries its stderr).
    ReadinessTimeout: a server did not become ready before its deadline.
"""

from __future__ import annotations

import logging
import os
import socket
import subprocess
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

__all__ = [
    "ReadinessTimeout",
    "SystemCommandError",
    "install_file",
    "port_is_open",
    "run",
    "tail",
    "wait_until",
]

log = logging.getLogger(__name__)


class SystemCommandError(RuntimeError):
    """A command failed; the message holds the command line, exit code and stderr."""

    def __init__(self, command: Sequence[str], returncode: int, stdout: str, stderr: str) -> None:
        self.command = list(command)
        self.returncode = returncode
        self.stdout = stdout
        self.stderr = stderr
        detail = (stderr.strip() or stdout.strip())[-4000:]
        super().__init__(f"{' '.join(command)} exited with {returncode}: {detail}")


class ReadinessTimeout(RuntimeError):
    """A server did not answer before its deadline."""


def run(
    command: Sequence[str],
    *,
    input_text: str | None = None,
    env: Mapping[str, str] | None = None,
    check: bool = True,
    timeout: float = 120.0,
) -> subprocess.CompletedProcess[str]:
    """Run a command, capture its output, and raise SystemCommandError when it fails."""
    log.debug("running %s", " ".join(command))
    full_env = {**os.environ, **env} if env is not None else None
    try:
        result = subprocess.run(
            list(command),
            input=input_text,
            capture_output=True,
            text=True,
            env=full_env,
            timeout=timeout,
            check=False,
            # Daemons started by these commands must not inherit our stdin.
            stdin=None if input_text is not None else subprocess.DEVNULL,
        )
    except subprocess.TimeoutExpired as exc:
        raise SystemCommandError(command, -1, "", f"timed out after {timeout} s") from exc
    except FileNotFoundError as exc:
        raise SystemCommandError(command, 127, "", str(exc)) from exc
    if check and result.returncode != 0:
        raise SystemCommandError(command, result.returncode, result.stdout, result.stderr)
    return result


def wait_until(
    ready: Callable[[], bool],
    *,
    what: str,
    timeout: float,
    interval: float = 0.1,
    explain: Callable[[], str] | None = None,
) -> float:
    """Poll `ready` until it returns True; return the seconds waited or raise ReadinessTimeout."""
    start = time.monotonic()
    deadline = start + timeout
    while True:
        if ready():
            return time.monotonic() - start
        if time.monotonic() >= deadline:
            detail = f": {explain()}" if explain is not None else ""
            raise ReadinessTimeout(f"{what} not ready after {timeout:.0f} s{detail}")
        time.sleep(interval)


def port_is_open(host: str, port: int, timeout: float = 0.5) -> bool:
    """True when something accepts TCP connections on host:port."""
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def tail(path: str, lines: int = 20) -> str:
    """The last lines of a log file, for error messages; empty when it cannot be read."""
    try:
        with open(path, encoding="utf-8", errors="replace") as handle:
            return "".join(handle.readlines()[-lines:])
    except OSError:
        return ""


def install_file(source: Path, target: Path, mode: int = 0o644) -> bool:
    """Copy a deploy/ file over a system one when their contents differ; True when it changed."""
    content = source.read_bytes()
    if target.exists() and target.read_bytes() == content:
        return False
    log.info("installing %s as %s", source, target)
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = target.with_name(f".{target.name}.alexandrite-new")
    staging.write_bytes(content)
    staging.chmod(mode)
    staging.replace(target)
    return True
