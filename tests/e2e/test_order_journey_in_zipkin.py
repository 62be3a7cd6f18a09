"""One search by order id in Zipkin shows the order's whole journey (DESIGN.md §3)."""

from __future__ import annotations

import time
from datetime import datetime
from typing import Any

import httpx
import pytest

from alexandrite.cli.demo import DEMO_ROTATION, place_order, wait_terminal
from alexandrite.common import platform
from alexandrite.files.samples import sample_bytes
from tests.e2e.zipkin import Span, annotation_values, named, service, wait_for_order_spans

pytestmark = pytest.mark.e2e

SHOP = platform.SHOP.url
SAMPLES = {kind: sample_bytes(kind) for kind in set(DEMO_ROTATION)}


async def _orders_until(client: httpx.AsyncClient, wanted: set[str]) -> dict[str, dict[str, Any]]:
    """Place orders (the simulated printers fail a share of them) until one ended in each of
    ``wanted``; bounded, so a platform that never fails an order fails this test instead."""
    found: dict[str, dict[str, Any]] = {}
    for batch in range(8):
        ids = [await place_order(client, SHOP, batch * 5 + i, SAMPLES) for i in range(5)]
        for order_id in ids:
            order = await wait_terminal(client, SHOP, order_id, time.monotonic() + 120)
            found.setdefault(order["status"], order)
        if wanted <= found.keys():
            return found
    raise AssertionError(f"no order ended in {wanted - found.keys()} after 40 orders")


@pytest.fixture(scope="module")
async def finished_orders() -> dict[str, dict[str, Any]]:
    async with httpx.AsyncClient(timeout=60) as client:
        return await _orders_until(client, {"completed", "failed"})


def _span_kinds(spans: list[Span], kind: str) -> list[Span]:
    return [span for span in spans if span.get("kind") == kind]


def _has_lifecycle(spans: list[Span]) -> bool:
    return bool(named(spans, "order.lifecycle"))


async def test_a_completed_order_is_found_by_id_across_every_system(
    finished_orders: dict[str, dict[str, Any]],
) -> None:
    order = finished_orders["completed"]
    async with httpx.AsyncClient(timeout=30) as client:
        spans = await wait_for_order_spans(
            client, order["id"], _has_lifecycle, "the completed order's lifecycle span"
        )
    assert {"shop-api", "crm-api", "mes-api", "file-storage"} <= {service(s) for s in spans}
    assert all(s["tags"].get("order.id") == order["id"] for s in spans)

    producers = {
        s["tags"].get("messaging.rabbitmq.destination.routing_key")
        for s in _span_kinds(spans, "PRODUCER")
    }
    consumers = {
        s["tags"].get("messaging.rabbitmq.destination.routing_key")
        for s in _span_kinds(spans, "CONSUMER")
    }
    expected_routes = {
        "order.submitted",
        "order.in_review",
        "order.approved",
        "production.queued",
        "production.started",
        "production.completed",
    }
    assert expected_routes <= producers
    assert expected_routes <= consumers
    for span in _span_kinds(spans, "PRODUCER") + _span_kinds(spans, "CONSUMER"):
        assert span["tags"]["messaging.system"] == "rabbitmq"
        assert span["tags"]["messaging.message.id"]

    (upload,) = named(spans, "files.upload")
    assert int(upload["tags"]["model.size_bytes"]) > 0
    assert float(upload["tags"]["upload.duration_ms"]) >= 0
    (analysis,) = named(spans, "files.model.analysis")
    assert int(analysis["tags"]["model.triangles"]) > 0
    assert analysis["duration"] > 0

    changes = [v for v in annotation_values(spans) if v.startswith("order.status_changed")]
    reached = {status for entry in order["history"] for status in [entry["status"]]}
    for status in reached:
        assert any(f'"order.status.to":"{status}"' in value for value in changes), status


async def test_the_lifecycle_span_lasts_from_creation_to_completion(
    finished_orders: dict[str, dict[str, Any]],
) -> None:
    order = finished_orders["completed"]
    async with httpx.AsyncClient(timeout=30) as client:
        spans = await wait_for_order_spans(
            client, order["id"], _has_lifecycle, "the lifecycle span"
        )
    (lifecycle,) = named(spans, "order.lifecycle")
    history = order["history"]
    created = datetime.fromisoformat(history[0]["at"])
    finished = datetime.fromisoformat(history[-1]["at"])
    expected_us = (finished - created).total_seconds() * 1_000_000
    assert abs(lifecycle["duration"] - expected_us) < 5_000
    assert lifecycle["tags"]["order.final_status"] == "completed"
    assert "order.time_in_status.in_production_s" in lifecycle["tags"]


async def test_a_failed_order_shows_the_error_and_its_exception(
    finished_orders: dict[str, dict[str, Any]],
) -> None:
    order = finished_orders["failed"]
    async with httpx.AsyncClient(timeout=30) as client:
        spans = await wait_for_order_spans(
            client, order["id"], _has_lifecycle, "the failed order's lifecycle span"
        )
    errors = [s for s in spans if "error" in s.get("tags", {})]
    assert errors, "no span of the failed order is marked as an error"
    (failure,) = named(spans, "mes.job.fail")
    assert "error" in failure["tags"]
    assert any(v.startswith("exception") for v in annotation_values([failure]))
    assert order["reason"] == failure["tags"]["otel.status_description"]
    (lifecycle,) = named(spans, "order.lifecycle")
    assert lifecycle["tags"]["order.final_status"] == "failed"
