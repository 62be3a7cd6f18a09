"""Child processes of a benchmark: start, wait until ready, measure CPU and memory, stop."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import psutil

from alexandrite.ops.program import Program

__all__ = ["BenchProcess", "ResourceSample", "free_port", "wait_until"]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def wait_until(predicate: object, what: str, timeout: float, interval: float = 0.2) -> None:
    """Poll ``predicate()`` until it is true; raise TimeoutError naming ``what`` otherwise."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():  # type: ignore[operator]
            return
        time.sleep(interval)
    raise TimeoutError(f"{what} not reached within {timeout:.0f} s")


@dataclass
class ResourceSample:
    """CPU seconds (user + system, children included) and resident memory of one process tree."""

    cpu_s: float
    rss_bytes: int


@dataclass
class BenchProcess:
    """One server started for a benchmark, with its log under the benchmark's log directory."""

    program: Program
    log_dir: Path
    process: subprocess.Popen[bytes] | None = None
    peak_rss: int = 0
    _log_path: Path = field(init=False)

    def __post_init__(self) -> None:
        self._log_path = self.log_dir / f"{self.program.name}.log"

    @property
    def name(self) -> str:
        return self.program.name

    def start(self) -> BenchProcess:
        self.log_dir.mkdir(parents=True, exist_ok=True)
        with self._log_path.open("wb") as log:
            self.process = subprocess.Popen(
                self.program.command,
                env={**os.environ, **self.program.environment},
                cwd=self.program.directory,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
        return self

    def wait_ready(self) -> None:
        url = self.program.ready_url
        if url is None:
            return

        def ready() -> bool:
            assert self.process is not None
            if self.process.poll() is not None:
                raise RuntimeError(
                    f"{self.name} exited with {self.process.returncode}: {self.tail()}"
                )
            try:
                return httpx.get(url, timeout=2.0).status_code == 200
            except httpx.HTTPError:
                return False

        try:
            wait_until(ready, f"{self.name} ready at {url}", self.program.start_timeout)
        except TimeoutError as exc:
            raise TimeoutError(f"{exc}: {self.tail()}") from None

    def tail(self, lines: int = 20) -> str:
        try:
            return "\n".join(self._log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def _tree(self) -> list[psutil.Process]:
        assert self.process is not None
        try:
            root = psutil.Process(self.process.pid)
            return [root, *root.children(recursive=True)]
        except psutil.NoSuchProcess:
            return []

    def sample(self) -> ResourceSample:
        """CPU seconds so far and resident memory now, of the process and its children
        (the file storage's analysis pool); also updates the peak."""
        cpu = 0.0
        rss = 0
        for member in self._tree():
            try:
                times = member.cpu_times()
                cpu += times.user + times.system
                rss += member.memory_info().rss
            except psutil.NoSuchProcess:
                continue
        self.peak_rss = max(self.peak_rss, rss)
        return ResourceSample(cpu_s=cpu, rss_bytes=rss)

    def stop(self, timeout: float = 20.0) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        # Its own session: the whole group (a JVM's helpers, a process pool) goes with it.
        try:
            os.killpg(self.process.pid, signal.SIGTERM)
        except ProcessLookupError:
            return
        try:
            self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=5)
