"""Zipkin on OpenSearch, the distributed store: spans stored and found by order id, old days
deleted by retention, the node running as its own user.

A node and a Zipkin of the test's own on free ports (tests/support/stores.py); the first run
fetches OpenSearch (56 MB) and Zipkin from Maven Central into the cache.
"""

from __future__ import annotations

import asyncio
import math
import secrets
import time
from collections.abc import Iterator
from datetime import UTC, date, datetime

import httpx
import psutil
import pytest

from alexandrite.gateway.journey import TRACES_PER_READ, JourneyBuilder
from alexandrite.gateway.waiting_point import LiveSources
from alexandrite.ops.opensearch import (
    INDEX_SETTINGS,
    SYSTEM_USER,
    delete_old_indices,
    ensure_index_settings,
)
from tests.support.stores import ZipkinOnOpenSearch as Store
from tests.support.stores import zipkin_on_opensearch

pytestmark = [pytest.mark.stores, pytest.mark.timeout(10 * 60)]

STORE_DEADLINE = 30.0


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Store]:
    with zipkin_on_opensearch(tmp_path_factory.mktemp("state")) as store:
        yield store


def _spans(trace_id: str, order_id: str, count: int) -> list[dict[str, object]]:
    now_us = int(time.time() * 1_000_000)
    root = secrets.token_hex(8)
    spans: list[dict[str, object]] = []
    for index in range(count):
        span_id = root if index == 0 else secrets.token_hex(8)
        span: dict[str, object] = {
            "traceId": trace_id,
            "id": span_id,
            "name": f"step-{index}",
            "timestamp": now_us + index,
            "duration": 1000,
            "localEndpoint": {"serviceName": "shop" if index % 2 else "crm"},
            "tags": {"order.id": order_id},
        }
        if index:
            span["parentId"] = root
        spans.append(span)
    return spans


def _poll_trace(zipkin_url: str, order_id: str, expected: int) -> list[dict[str, object]]:
    deadline = time.monotonic() + STORE_DEADLINE
    found: list[list[dict[str, object]]] = []
    while time.monotonic() < deadline:
        response = httpx.get(
            f"{zipkin_url}/api/v2/traces",
            params={"annotationQuery": f"order.id={order_id}", "lookback": 3_600_000},
            timeout=10,
        )
        if response.status_code >= 500:
            # Zipkin answers 500 while the day's index is not created yet (first writes are
            # asynchronous): not found yet, ask again until the deadline.
            time.sleep(0.3)
            continue
        response.raise_for_status()
        found = response.json()
        if found and len(found[0]) == expected:
            return found[0]
        time.sleep(0.3)
    pytest.fail(f"order {order_id}: {expected} spans not found within {STORE_DEADLINE} s: {found}")


def test_zipkin_on_opensearch_finds_a_whole_trace_by_its_order_id(store: Store) -> None:
    traces = {secrets.token_hex(16): f"ord-{secrets.token_hex(6)}" for _ in range(5)}
    for trace_id, order_id in traces.items():
        response = httpx.post(
            f"{store.zipkin_url}/api/v2/spans", json=_spans(trace_id, order_id, 12), timeout=10
        )
        assert response.status_code == 202, response.text
    for trace_id, order_id in traces.items():
        trace = _poll_trace(store.zipkin_url, order_id, 12)
        assert {span["traceId"] for span in trace} == {trace_id}
    # One shard and no replica on a single node: the day's index is green, not yellow.
    health = httpx.get(f"{store.node.url}/_cluster/health/zipkin-span-*", timeout=10).json()
    assert health["status"] == "green", health


def test_retention_deletes_the_days_older_than_the_limit_and_keeps_the_rest(store: Store) -> None:
    order_id = f"ord-{secrets.token_hex(6)}"
    httpx.post(
        f"{store.zipkin_url}/api/v2/spans",
        json=_spans(secrets.token_hex(16), order_id, 3),
        timeout=10,
    ).raise_for_status()
    _poll_trace(store.zipkin_url, order_id, 3)
    old = ["zipkin-span-2020-01-01", "zipkin-dependency-2020-01-01"]
    for name in [*old, "unrelated-2020-01-01"]:
        httpx.put(f"{store.node.url}/{name}", timeout=30).raise_for_status()

    deleted = delete_old_indices(store.node.url, 7)

    assert deleted == sorted(old)
    names = {
        row["index"]
        for row in httpx.get(
            f"{store.node.url}/_cat/indices", params={"format": "json"}, timeout=10
        ).json()
    }
    today = datetime.now(UTC).date().isoformat()
    assert f"zipkin-span-{today}" in names
    assert "unrelated-2020-01-01" in names
    assert not names & set(old)
    _poll_trace(store.zipkin_url, order_id, 3)


def _index_settings(url: str, index: str) -> dict[str, str]:
    response = httpx.get(f"{url}/{index}/_settings", params={"flat_settings": "true"}, timeout=10)
    response.raise_for_status()
    settings: dict[str, str] = response.json()[index]["settings"]
    return {key: settings.get(key, "") for key in INDEX_SETTINGS}


def test_our_index_settings_reach_the_existing_days_and_the_days_zipkin_creates_later(
    store: Store,
) -> None:
    before = "zipkin-span-2031-01-01"
    after = "zipkin-autocomplete-2031-01-02"
    try:
        httpx.put(f"{store.node.url}/{before}", timeout=30).raise_for_status()
        assert _index_settings(store.node.url, before)["index.translog.durability"] != "async"

        ensure_index_settings(store.node.url)
        httpx.put(f"{store.node.url}/{after}", timeout=30).raise_for_status()

        assert _index_settings(store.node.url, before) == INDEX_SETTINGS
        assert _index_settings(store.node.url, after) == INDEX_SETTINGS
    finally:
        for name in (before, after):
            httpx.delete(f"{store.node.url}/{name}", timeout=30)


def test_retention_of_zero_days_is_refused_before_anything_is_deleted(store: Store) -> None:
    with pytest.raises(ValueError, match="at least one day"):
        delete_old_indices(store.node.url, 0, today=date(2030, 1, 1))


def test_the_node_runs_as_its_own_system_user_not_root(store: Store) -> None:
    listeners = [
        psutil.Process(conn.pid)
        for conn in psutil.net_connections("tcp")
        if conn.laddr and conn.laddr.port == store.node.http_port and conn.pid
    ]
    assert listeners, "no process listens on the node's port"
    assert {process.username() for process in listeners} == {SYSTEM_USER}


def test_the_journey_reads_an_orders_traces_many_per_request_whole_and_in_order(
    store: Store,
) -> None:
    # 60 traces (more than one read's worth) and two never stored; one id with a zero high half,
    # which Zipkin answers as 16 hex digits.
    stored = [secrets.token_hex(16) for _ in range(59)] + ["0" * 16 + secrets.token_hex(8)]
    for trace_id in stored:
        response = httpx.post(
            f"{store.zipkin_url}/api/v2/spans", json=_spans(trace_id, "ord-many", 3), timeout=10
        )
        assert response.status_code == 202, response.text
    absent = [secrets.token_hex(16) for _ in range(2)]
    asked = [*stored[:30], absent[0], *stored[30:], absent[1]]
    requests: list[str] = []

    async def read(ids: list[str]) -> tuple[list[list[dict[str, object]]], str | None]:
        async def count(request: httpx.Request) -> None:
            requests.append(request.url.path)

        async with (
            httpx.AsyncClient(
                base_url=store.zipkin_url, timeout=10, event_hooks={"request": [count]}
            ) as zipkin,
            httpx.AsyncClient(base_url="http://127.0.0.1:1", timeout=1) as nowhere,
        ):
            builder = JourneyBuilder(nowhere, zipkin, LiveSources(nowhere, nowhere), {})
            return await builder.traces(ids)

    deadline = time.monotonic() + STORE_DEADLINE
    while True:
        requests.clear()
        traces, note = asyncio.run(read(asked))
        if sum(len(trace) for trace in traces) == 3 * len(stored) or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    assert note is None
    assert [trace[0]["traceId"] for trace in traces] == [
        trace_id.removeprefix("0" * 16) for trace_id in asked if trace_id not in absent
    ]
    assert all(len(trace) == 3 for trace in traces)
    assert requests == ["/api/v2/traceMany"] * math.ceil(len(asked) / TRACES_PER_READ)
    # One id is read by /api/v2/trace (Zipkin refuses traceMany with one); a missing one is absent.
    requests.clear()
    single, note = asyncio.run(read([stored[0]]))
    assert note is None and [trace[0]["traceId"] for trace in single] == [stored[0]]
    missing, note = asyncio.run(read([absent[0]]))
    assert note is None and missing == []
    assert requests == [f"/api/v2/trace/{stored[0]}", f"/api/v2/trace/{absent[0]}"]
