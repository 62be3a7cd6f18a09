"""Zipkin's dependency graph on OpenSearch: spans posted to Zipkin, our job run, the links read
back from Zipkin's /api/v2/dependencies with their call and error counts; and our linker
against Zipkin's own (its memory storage links with DependencyLinker at query time).

A node and Zipkins of the test's own on free ports (tests/support/stores.py).
"""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, date, datetime
from typing import Any

import httpx
import pytest

from alexandrite.ops.dependency_linker import DependencyLinker, Span
from alexandrite.ops.paths import REPO_ROOT, Paths
from alexandrite.ops.zipkin_dependencies import (
    dependency_index,
    link_day,
    zipkin_dependencies_program,
)
from tests.support.stores import ZipkinOnOpenSearch as Store
from tests.support.stores import running_zipkin, zipkin_on_opensearch

pytestmark = [pytest.mark.stores, pytest.mark.timeout(10 * 60)]

STORE_DEADLINE = 30.0


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Store]:
    with zipkin_on_opensearch(tmp_path_factory.mktemp("state")) as store:
        yield store


def _span(
    trace_id: str,
    span_id: str,
    parent_id: str | None,
    kind: str,
    service: str,
    remote: str | None = None,
    *,
    at_us: int,
    error: bool = False,
) -> dict[str, Any]:
    span: dict[str, Any] = {
        "traceId": trace_id,
        "id": span_id,
        "name": f"{kind.lower()} {service}",
        "kind": kind,
        "timestamp": at_us,
        "duration": 1000,
        "localEndpoint": {"serviceName": service},
    }
    if parent_id:
        span["parentId"] = parent_id
    if remote:
        span["remoteEndpoint"] = {"serviceName": remote}
    if error:
        span["tags"] = {"error": "file-storage answered 503"}
    return span


def _order_trace(at_us: int, *, failing_upload: bool) -> list[dict[str, Any]]:
    """shop-api publishes, crm-api consumes through RabbitMQ and calls file-storage (the OTel
    way: client and server spans with their own ids), failing when `failing_upload`."""
    trace = secrets.token_hex(16)
    ids = [secrets.token_hex(8) for _ in range(5)]
    return [
        _span(trace, ids[0], None, "SERVER", "shop-api", at_us=at_us),
        _span(trace, ids[1], ids[0], "PRODUCER", "shop-api", "rabbitmq", at_us=at_us + 10),
        _span(trace, ids[2], ids[1], "CONSUMER", "crm-api", "rabbitmq", at_us=at_us + 20),
        _span(trace, ids[3], ids[2], "CLIENT", "crm-api", at_us=at_us + 30, error=failing_upload),
        _span(trace, ids[4], ids[3], "SERVER", "file-storage", at_us=at_us + 40),
    ]


def _orphan_trace(at_us: int) -> list[dict[str, Any]]:
    """mes-api's server span whose parent was never stored, and its call to an uninstrumented
    crm-api (a client span naming its remote side): the client is still linked."""
    trace, missing, server, client = (secrets.token_hex(n) for n in (16, 8, 8, 8))
    return [
        _span(trace, server, missing, "SERVER", "mes-api", at_us=at_us),
        _span(trace, client, server, "CLIENT", "mes-api", "crm-api", at_us=at_us + 10),
    ]


EXPECTED = {
    ("shop-api", "rabbitmq"): (3, 0),
    ("rabbitmq", "crm-api"): (3, 0),
    # The failing client's error counts on the link its server side makes.
    ("crm-api", "file-storage"): (3, 1),
    ("mes-api", "crm-api"): (1, 0),
}


def _post_and_wait(zipkin_url: str, traces: list[list[dict[str, Any]]]) -> None:
    for trace in traces:
        response = httpx.post(f"{zipkin_url}/api/v2/spans", json=trace, timeout=10)
        assert response.status_code == 202, response.text
    deadline = time.monotonic() + STORE_DEADLINE
    for trace in traces:
        trace_id = trace[0]["traceId"]
        while True:
            response = httpx.get(f"{zipkin_url}/api/v2/trace/{trace_id}", timeout=10)
            if response.status_code == 200 and len(response.json()) == len(trace):
                break
            if time.monotonic() > deadline:
                pytest.fail(f"trace {trace_id} not stored within {STORE_DEADLINE} s")
            time.sleep(0.3)


def _dependencies(zipkin_url: str) -> dict[tuple[str, str], tuple[int, int]]:
    response = httpx.get(
        f"{zipkin_url}/api/v2/dependencies",
        params={"endTs": int(time.time() * 1000), "lookback": 86_400_000},
        timeout=10,
    )
    response.raise_for_status()
    return {
        (link["parent"], link["child"]): (link["callCount"], link.get("errorCount", 0))
        for link in response.json()
    }


def test_zipkin_shows_the_links_the_job_writes_with_their_calls_and_errors(store: Store) -> None:
    now_us = int(time.time() * 1_000_000)
    day = datetime.fromtimestamp(now_us / 1_000_000, UTC).date()
    traces = [
        _order_trace(now_us, failing_upload=True),
        _order_trace(now_us + 1000, failing_upload=False),
        _order_trace(now_us + 2000, failing_upload=False),
        _orphan_trace(now_us + 3000),
    ]
    _post_and_wait(store.zipkin_url, traces)
    # Before the job, Zipkin on OpenSearch has no links at all: it never links by itself.
    assert _dependencies(store.zipkin_url) == {}

    # A link an earlier run wrote and this one does not find is removed (the day is overwritten).
    stale = {"id": "old|gone", "parent": "old", "child": "gone", "callCount": 9, "errorCount": 0}
    httpx.put(
        f"{store.node.url}/{dependency_index(day)}/_doc/old|gone",
        params={"refresh": "true"},
        json=stale,
        timeout=10,
    ).raise_for_status()
    assert ("old", "gone") in _dependencies(store.zipkin_url)

    result = link_day(store.node.url, day)
    assert (result.traces, result.spans) == (4, 17)
    assert _dependencies(store.zipkin_url) == EXPECTED

    # Hourly reruns overwrite the day instead of adding to it; pages of 3 spans cut traces in
    # two and hold a single trace alone, and still give the same links.
    link_day(store.node.url, day, page_size=3)
    link_day(store.node.url, day)
    assert _dependencies(store.zipkin_url) == EXPECTED
    # Zipkin's template (one shard, no replica) shaped the index: green on a single node.
    health = httpx.get(
        f"{store.node.url}/_cluster/health/{dependency_index(day)}", timeout=10
    ).json()
    assert health["status"] == "green", health

    # The supervised program (yesterday and today, then every hour) writes them again.
    httpx.delete(f"{store.node.url}/{dependency_index(day)}", timeout=10).raise_for_status()
    assert _dependencies(store.zipkin_url) == {}
    program = zipkin_dependencies_program(url=store.node.url)
    job = subprocess.Popen(
        program.command, cwd=REPO_ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        deadline = time.monotonic() + STORE_DEADLINE
        while _dependencies(store.zipkin_url) != EXPECTED:
            assert job.poll() is None, f"the job exited with {job.returncode}"
            if time.monotonic() > deadline:
                pytest.fail(f"the job wrote no links within {STORE_DEADLINE} s")
            time.sleep(0.3)
    finally:
        job.terminate()
        job.wait(timeout=30)


def test_the_command_links_a_day_without_spans_to_nothing_and_exits_0(store: Store) -> None:
    day = date(2020, 1, 1)  # no index for that day exists
    command = [sys.executable, "-m", "alexandrite.ops.zipkin_dependencies"]
    result = subprocess.run(
        [*command, "--day", day.isoformat(), "--url", store.node.url],
        capture_output=True, text=True, timeout=120, cwd=REPO_ROOT, env=dict(os.environ),
        check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "2020-01-01: 0 links from 0 spans"
    missing = httpx.head(f"{store.node.url}/{dependency_index(day)}", timeout=10)
    assert missing.status_code == 404

    unreachable = subprocess.run(
        [*command, "--day", day.isoformat(), "--url", "http://127.0.0.1:9"],
        capture_output=True, text=True, timeout=120, cwd=REPO_ROOT, check=False,
    )  # fmt: skip
    assert unreachable.returncode == 1
    assert "dependency links of 2020-01-01" in unreachable.stderr


# Shapes from Zipkin's DependencyLinkerTest and ours: (parent, id, kind, local, remote, error,
# shared), with letters for ids. Each becomes a trace of its own with fresh hex ids.
Shape = tuple[str | None, str, str | None, str | None, str | None, bool, bool]
SHAPES: list[list[Shape]] = [
    [  # a shared server span, reported in reverse, the client leaf failing
        ("b", "c", "CLIENT", "app", "db", True, False),
        ("a", "b", "SERVER", "app", "web", False, True),
        ("a", "b", "CLIENT", "web", "app", False, False),
        (None, "a", "SERVER", "web", None, False, False),
    ],
    [  # the server's parent id not propagated
        (None, "b", "SERVER", "link", "arn", False, True),
        ("a", "b", "CLIENT", "arn", "link", False, False),
        (None, "a", "SERVER", "arn", None, False, False),
    ],
    [
        (None, "a", "PRODUCER", "producer", "kafka", False, False),
        ("a", "b", "CONSUMER", "consumer", "kafka", True, False),
    ],
    [
        (None, "a", "PRODUCER", "producer", None, False, False),
        ("a", "b", "SERVER", "server", None, False, False),
    ],
    [
        (None, "a", None, "some-client", "web", False, False),
        ("a", "b", None, "web", "app", True, False),
        ("b", "c", None, "app", "db", False, False),
    ],
    [  # the root missing
        ("a", "b", "SERVER", "service1", None, False, False),
        ("b", "c", "SERVER", "service2", None, False, False),
    ],
    [  # clients behind a local span
        (None, "a", "SERVER", "foo", None, False, False),
        ("a", "b", None, None, None, False, False),
        ("b", "c", "CLIENT", "bar", "baz", True, False),
        ("b", "d", "CLIENT", "bar", None, True, False),
    ],
    [  # OpenTelemetry's way: client and server with their own ids, the client failing
        (None, "a", "SERVER", "shop-api", None, False, False),
        ("a", "b", "CLIENT", "shop-api", None, True, False),
        ("b", "c", "SERVER", "crm-api", None, False, False),
    ],
    [  # a client span below a server of another service
        (None, "a", "SERVER", "web", None, False, False),
        ("a", "b", "CLIENT", "app", None, False, False),
    ],
]


def _shape_trace(shape: list[Shape], at_us: int) -> list[dict[str, Any]]:
    trace_id = secrets.token_hex(16)
    ids: dict[str, str] = {}
    spans = []
    for offset, (parent, letter, kind, local, remote, error, shared) in enumerate(shape):
        span: dict[str, Any] = {
            "traceId": trace_id,
            "id": ids.setdefault(letter, secrets.token_hex(8)),
        }
        span |= {"timestamp": at_us + offset, "duration": 10, "name": "call"}
        if parent is not None:
            span["parentId"] = ids.setdefault(parent, secrets.token_hex(8))
        if kind is not None:
            span["kind"] = kind
        if local is not None:
            span["localEndpoint"] = {"serviceName": local}
        if remote is not None:
            span["remoteEndpoint"] = {"serviceName": remote}
        if error:
            span["tags"] = {"error": "failed"}
        if shared:
            span["shared"] = True
        spans.append(span)
    return spans


@pytest.fixture(scope="module")
def memory_zipkin(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    paths = Paths(state=tmp_path_factory.mktemp("state"), cache=Paths.from_env().cache).ensure()
    with running_zipkin(paths, "mem") as zipkin_url:
        yield zipkin_url


def test_our_linker_gives_what_zipkins_own_linker_gives_on_the_same_spans(
    memory_zipkin: str,
) -> None:
    now_us = int(time.time() * 1_000_000)
    traces = [_shape_trace(shape, now_us + 100 * n) for n, shape in enumerate(SHAPES)]
    traces += [_order_trace(now_us + 5000, failing_upload=True), _orphan_trace(now_us + 6000)]
    _post_and_wait(memory_zipkin, traces)
    linker = DependencyLinker()
    for trace in traces:
        linker.put_trace([Span.from_json(span) for span in trace])
    ours = {
        (link.parent, link.child): (link.call_count, link.error_count) for link in linker.links()
    }
    assert len(ours) >= 15  # the shapes above make that many distinct links
    assert _dependencies(memory_zipkin) == ours
