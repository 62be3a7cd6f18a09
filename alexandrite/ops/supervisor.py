"""The process supervisor (supervisord) that keeps the platform's processes alive.

``alexandrite up`` renders one supervisord configuration from the ``Program`` list into the
state directory and starts supervisord (or asks a running one to apply the new list); each
program's stdout goes to ``<state>/logs/<name>.log`` (JSON lines for our services).

A second ``alexandrite up`` leaves alone every program whose configuration is unchanged
(``supervisorctl update`` restarts only changed ones). New code counts as a change: each Python
program carries ``ALEXANDRITE_CODE_HASH``, a hash of the ``alexandrite`` package's files, so an
edit restarts the Python programs and nothing else; ``restart=True`` (``alexandrite up
--restart``) restarts them anyway.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import shlex
import sys
import time
import xmlrpc.client
from collections.abc import Sequence
from http.client import HTTPConnection
from pathlib import Path
from typing import Any

import httpx

from alexandrite.ops.commands import ReadinessTimeout, run
from alexandrite.ops.paths import REPO_ROOT, Paths
from alexandrite.ops.program import Program

__all__ = ["Supervisor", "code_hash"]

_log = logging.getLogger(__name__)


class _UnixHTTPConnection(HTTPConnection):
    def __init__(self, socket_path: str) -> None:
        super().__init__("localhost")
        self._socket_path = socket_path

    def connect(self) -> None:
        import socket

        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.connect(self._socket_path)


class _UnixTransport(xmlrpc.client.Transport):
    def __init__(self, socket_path: str) -> None:
        super().__init__()
        self._socket_path = socket_path

    def make_connection(self, host: Any) -> HTTPConnection:
        return _UnixHTTPConnection(self._socket_path)


def code_hash(package: Path = REPO_ROOT / "alexandrite") -> str:
    """A short hash of every file of the package (names and contents), caches left out."""
    digest = hashlib.sha256()
    for path in sorted(package.rglob("*")):
        if path.is_file() and "__pycache__" not in path.parts and path.suffix != ".pyc":
            digest.update(str(path.relative_to(package)).encode() + b"\0")
            digest.update(path.read_bytes() + b"\0")
    return digest.hexdigest()[:16]


def _runs_our_code(program: Program) -> bool:
    return program.command[:1] == [sys.executable] and any(
        part.startswith("alexandrite") for part in program.command[1:3]
    )


def _quote_env(environment: dict[str, str]) -> str:
    # supervisord's environment= syntax: KEY="value",… with % doubled.
    items = []
    for key, value in sorted(environment.items()):
        escaped = value.replace("%", "%%").replace('"', '\\"')
        items.append(f'{key}="{escaped}"')
    return ",".join(items)


class Supervisor:
    def __init__(self, paths: Paths) -> None:
        self.paths = paths
        self.config = paths.run / "supervisord.conf"
        self.socket = paths.run / "supervisor.sock"

    def render(self, programs: Sequence[Program]) -> str:
        code = code_hash() if any(_runs_our_code(program) for program in programs) else ""
        lines = [
            "[unix_http_server]",
            f"file={self.socket}",
            "chmod=0700",
            "",
            "[supervisord]",
            f"logfile={self.paths.logs / 'supervisord.log'}",
            f"pidfile={self.paths.run / 'supervisord.pid'}",
            "logfile_maxbytes=10MB",
            "logfile_backups=3",
            "",
            "[rpcinterface:supervisor]",
            "supervisor.rpcinterface_factory = supervisor.rpcinterface:make_main_rpcinterface",
            "",
            "[supervisorctl]",
            f"serverurl=unix://{self.socket}",
            "",
        ]
        for program in programs:
            lines += [
                f"[program:{program.name}]",
                f"command={shlex.join(program.command)}",
                f"directory={program.directory or self.paths.state}",
                f"priority={program.priority}",
                "autostart=true",
                "autorestart=true",
                "startsecs=2",
                "startretries=10",
                "stopasgroup=true",
                "killasgroup=true",
                "stopwaitsecs=15",
                "redirect_stderr=true",
                f"stdout_logfile={self.paths.logs / (program.name + '.log')}",
                "stdout_logfile_maxbytes=50MB",
                "stdout_logfile_backups=3",
            ]
            environment = dict(program.environment)
            if _runs_our_code(program):
                environment["ALEXANDRITE_CODE_HASH"] = code
            if environment:
                lines.append(f"environment={_quote_env(environment)}")
            lines.append("")
        return "\n".join(lines)

    def rpc(self) -> Any:
        proxy = xmlrpc.client.ServerProxy(
            "http://localhost", transport=_UnixTransport(str(self.socket))
        )
        return proxy.supervisor

    def running(self) -> bool:
        if not self.socket.exists():
            return False
        try:
            state = self.rpc().getState()
        except (OSError, xmlrpc.client.Error):
            return False
        return bool(state.get("statename") == "RUNNING")

    def apply(self, programs: Sequence[Program], *, restart: bool = False) -> None:
        """Write the configuration and start supervisord, or make a running one apply it.

        A running supervisord restarts only the programs whose configuration changed (new
        code included, see the module's docstring); `restart` restarts every program that
        runs our code as well.
        """
        self.paths.ensure()
        # The environment of some programs holds passwords: readable by the owner only.
        self.config.touch(mode=0o600, exist_ok=True)
        self.config.chmod(0o600)
        self.config.write_text(self.render(programs))
        bindir = Path(sys.executable).parent
        if self.running():
            run([str(bindir / "supervisorctl"), "-c", str(self.config), "update"])
            if restart:
                for program in programs:
                    if _runs_our_code(program):
                        self.restart(program.name)
        else:
            run([str(bindir / "supervisord"), "-c", str(self.config)])
            deadline = time.monotonic() + 15
            while not self.running():
                if time.monotonic() > deadline:
                    raise ReadinessTimeout("supervisord did not start; see its log")
                time.sleep(0.1)

    def restart(self, name: str) -> None:
        rpc = self.rpc()
        with contextlib.suppress(xmlrpc.client.Fault):
            rpc.stopProcess(name)
        rpc.startProcess(name, False)

    def stop(self, name: str) -> None:
        try:
            self.rpc().stopProcess(name)
        except xmlrpc.client.Fault as fault:
            if "NOT_RUNNING" not in fault.faultString:
                raise

    def start(self, name: str) -> None:
        try:
            self.rpc().startProcess(name, False)
        except xmlrpc.client.Fault as fault:
            if "ALREADY_STARTED" not in fault.faultString:
                raise

    def status(self) -> list[dict[str, Any]]:
        if not self.running():
            return []
        info: list[dict[str, Any]] = self.rpc().getAllProcessInfo()
        return info

    def shutdown(self) -> None:
        if self.running():
            self.rpc().shutdown()
            deadline = time.monotonic() + 30
            while self.socket.exists() and self.running() and time.monotonic() < deadline:
                time.sleep(0.2)

    def wait_ready(self, programs: Sequence[Program]) -> dict[str, float]:
        """Poll each program's readiness URL; return seconds waited per program."""
        waited: dict[str, float] = {}
        started = time.monotonic()
        with httpx.Client(verify=False, timeout=2.0) as client:
            for program in sorted(programs, key=lambda p: p.priority):
                if program.ready_url is None:
                    continue
                deadline = started + program.start_timeout
                while True:
                    try:
                        if client.get(program.ready_url).status_code < 300:
                            break
                    except httpx.HTTPError:
                        pass
                    if time.monotonic() > deadline:
                        log = self.paths.logs / f"{program.name}.log"
                        tail = log.read_text()[-3000:] if log.exists() else "(no log)"
                        raise ReadinessTimeout(
                            f"{program.name} not ready at {program.ready_url} "
                            f"after {program.start_timeout:.0f}s; last log lines:\n{tail}"
                        )
                    time.sleep(0.2)
                waited[program.name] = time.monotonic() - started
        return waited
