"""Trace stores of a test's own: an OpenSearch node and a Zipkin on free ports, as child processes.

They never touch the local-mode node (127.0.0.1:9200) or Zipkin (9411): each node has its own
name, ports and directory under the OpenSearch root, removed when the block ends.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import httpx
import pytest

from alexandrite.common import platform
from alexandrite.ops.opensearch import (
    OpenSearchNode,
    ensure_opensearch_installed,
    opensearch_program,
)
from alexandrite.ops.paths import Paths
from alexandrite.ops.program import Program
from alexandrite.ops.zipkin import ensure_zipkin_jar, zipkin_program
from tests.support.collector import free_port

# The JVMs take 10-40 s to start on 2 shared cores.
START_DEADLINE = 180.0


def _wait_ready(program: Program, process: subprocess.Popen[bytes], log: Path) -> None:
    assert program.ready_url is not None
    deadline = time.monotonic() + START_DEADLINE
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(
                f"{program.name} exited with {process.returncode}:\n{log.read_text()[-3000:]}"
            )
        try:
            if httpx.get(program.ready_url, timeout=2.0).status_code < 300:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    pytest.fail(
        f"{program.name} not ready within {START_DEADLINE:.0f} s:\n{log.read_text()[-3000:]}"
    )


@contextlib.contextmanager
def running_program(program: Program, log: Path) -> Iterator[subprocess.Popen[bytes]]:
    """The program as a child process, ready, until the block ends."""
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("wb") as output:
        process = subprocess.Popen(
            program.command,
            env={**os.environ, **program.environment},
            cwd=program.directory,
            stdout=output,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )
    try:
        _wait_ready(program, process, log)
        yield process
    finally:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


@contextlib.contextmanager
def running_opensearch(paths: Paths, name: str) -> Iterator[OpenSearchNode]:
    """A single OpenSearch node of the test's own; its data is deleted afterwards."""
    node = OpenSearchNode(
        name=name, http_port=free_port(), transport_port=free_port(), heap_mib=512
    )
    ensure_opensearch_installed(paths, node)
    try:
        with running_program(opensearch_program(node), paths.logs / f"opensearch-{name}.log"):
            yield node
    finally:
        shutil.rmtree(node.directory, ignore_errors=True)


@contextlib.contextmanager
def running_zipkin(
    paths: Paths,
    storage: Literal["mysql", "mem", "elasticsearch"],
    opensearch: OpenSearchNode | None = None,
    port: int | None = None,
) -> Iterator[str]:
    """A Zipkin on `port` (default: a free one); yields its base URL."""
    port = port or free_port()
    program = zipkin_program(
        paths,
        storage,
        port=port,
        jar=ensure_zipkin_jar(paths),
        opensearch_url=opensearch.url if opensearch else platform.OPENSEARCH.url,
    )
    with running_program(program, paths.logs / f"zipkin-{storage}-{port}.log"):
        yield f"http://127.0.0.1:{port}"


@dataclass(frozen=True)
class ZipkinOnOpenSearch:
    node: OpenSearchNode
    zipkin_url: str


@contextlib.contextmanager
def zipkin_on_opensearch(state: Path) -> Iterator[ZipkinOnOpenSearch]:
    """A node of its own (a fresh name) and a Zipkin storing in it, state under ``state``."""
    paths = Paths(state=state, cache=Paths.from_env().cache).ensure()
    with (
        running_opensearch(paths, f"test-{secrets.token_hex(4)}") as node,
        running_zipkin(paths, "elasticsearch", node) as zipkin_url,
    ):
        yield ZipkinOnOpenSearch(node, zipkin_url)
