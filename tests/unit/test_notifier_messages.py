"""The notifier's message text, links and retry backoff (no servers)."""

from __future__ import annotations

from datetime import UTC, datetime

from alexandrite.notifier.channels import render_text
from alexandrite.notifier.delivery_worker import backoff_seconds
from alexandrite.notifier.enrichment import order_links
from alexandrite.notifier.settings import Settings
from alexandrite.notifier.store import Notification

ORDER = "7f3c0a4e-1b2d-4c5e-8f90-123456789abc"


def test_an_order_alert_reads_with_its_order_links_and_runbook() -> None:
    notification = Notification(
        id=1,
        fingerprint="f",
        status="firing",
        alertname="OrderStuck",
        service="shop",
        severity="page",
        labels={},
        annotations={
            "summary": "shop: an order has been in status approved for 31s",
            "runbook_url": "docs/runbooks/OrderStuck.md",
        },
        starts_at=datetime.now(UTC),
        enrichment={
            "order_id": ORDER,
            "order_status": "approved",
            "order_ids": [ORDER, "other"],
            "verdict": "Waiting 31 s in `approved`, limit 30 s: STALLED; the journey shows where",
            "links": order_links(ORDER, "http://zipkin.test/zipkin/", "https://gateway.test"),
        },
    )
    assert render_text(notification).splitlines() == [
        "[FIRING] OrderStuck (page) shop",
        "shop: an order has been in status approved for 31s",
        f"order: {ORDER}",
        "verdict: Waiting 31 s in `approved`, limit 30 s: STALLED; the journey shows where",
        "also in approved: other",
        f"zipkin: http://zipkin.test/zipkin/?annotationQuery=order.id%3D{ORDER}",
        f"journey: https://gateway.test/orders/{ORDER}",
        "runbook: docs/runbooks/OrderStuck.md",
    ]


def test_backoff_doubles_up_to_its_ceiling() -> None:
    assert [backoff_seconds(n, 2.0, 20.0) for n in range(1, 6)] == [2, 4, 8, 16, 20]


def test_only_configured_channels_are_used() -> None:
    assert Settings().channels() == ["log"]
    configured = Settings(smtp_host="mail", smtp_to=["ops@example.com"], webhook_url="http://x")
    assert configured.channels() == ["log", "email", "webhook"]
    # A mail server without recipients is no channel.
    assert Settings(smtp_host="mail").channels() == ["log"]
