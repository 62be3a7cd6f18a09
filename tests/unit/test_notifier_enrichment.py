"""What the notifier adds to an OrderFailed alert: the orders that failed lately, newest first,
each with the console's verdict sentence (the real reason) and its journey link. The Shop's
answer is given here as the Shop's own OrderView documents; tests/integration/test_notifier.py
asks the real Shop."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from alexandrite.common.readable import clock
from alexandrite.common.status_limits import order_stuck_limits
from alexandrite.gateway.verdict import Step, decide
from alexandrite.notifier.channels import render_text
from alexandrite.notifier.enrichment import Enricher, OrderLookup, failure_verdict
from alexandrite.notifier.store import Notification

GATEWAY = "https://gateway.test"
ZIPKIN = "http://zipkin.test/zipkin/"


def _failed_order(order_id: str, failed_at: datetime, reason: str | None) -> dict[str, Any]:
    created = failed_at - timedelta(minutes=3)
    statuses = ["created", "submitted", "in_review", "approved", "queued", "in_production"]
    history = [
        {"status": status, "at": (created + timedelta(seconds=10 * i)).isoformat(), "reason": None}
        for i, status in enumerate(statuses)
    ]
    history.append({"status": "failed", "at": failed_at.isoformat(), "reason": reason})
    return {
        "id": order_id,
        "status": "failed",
        "reason": reason,
        "created_at": created.isoformat(),
        "history": history,
    }


class _ShopAnswer(OrderLookup):
    """The Shop's list answer, fixed; records what was asked."""

    def __init__(self, orders: list[dict[str, Any]]) -> None:
        super().__init__("http://127.0.0.1:9", timeout_s=1)
        self.orders = orders
        self.asked: list[tuple[str, int, bool]] = []

    async def in_status(
        self, status: str, limit: int, oldest_first: bool = True
    ) -> list[dict[str, Any]]:
        self.asked.append((status, limit, oldest_first))
        return self.orders[:limit]


NOW = datetime.now(UTC)
OLD = "11111111-1111-4111-8111-111111111111"
NEWER = "22222222-2222-4222-8222-222222222222"
NEWEST = "33333333-3333-4333-8333-333333333333"


async def test_an_order_failed_alert_names_each_recent_failure_with_reason_and_journey() -> None:
    shop = _ShopAnswer(
        [
            _failed_order(NEWER, NOW - timedelta(minutes=4), "filament runout"),
            _failed_order(NEWEST, NOW - timedelta(minutes=1), "nozzle clog"),
            # Failed two days ago: outside the alert's window, not this alert's business.
            _failed_order(OLD, NOW - timedelta(days=2), "bed adhesion"),
        ]
    )
    enricher = Enricher(shop, ZIPKIN, GATEWAY, max_orders=10)
    enrichment = await enricher.enrich(
        "OrderFailed",
        "firing",
        {"alertname": "OrderFailed", "service": "shop"},
        {"window_seconds": "900"},
    )
    assert shop.asked == [("failed", 10, False)]
    assert enrichment["order_id"] == NEWEST
    assert enrichment["order_ids"] == [NEWEST, NEWER]
    newest_at = clock(NOW - timedelta(minutes=1))
    assert enrichment["verdict"] == f"Failed in production at {newest_at}: nozzle clog"
    assert [(o["id"], o["reason"], o["journey_url"]) for o in enrichment["orders"]] == [
        (NEWEST, "nozzle clog", f"{GATEWAY}/orders/{NEWEST}"),
        (NEWER, "filament runout", f"{GATEWAY}/orders/{NEWER}"),
    ]
    assert enrichment["orders"][1]["verdict"].endswith(": filament runout")
    assert enrichment["links"]["journey"] == f"{GATEWAY}/orders/{NEWEST}"


async def test_an_order_failed_alert_asks_the_shop_for_a_bounded_number_of_orders() -> None:
    shop = _ShopAnswer([_failed_order(NEWEST, NOW, "nozzle clog")])
    await Enricher(shop, ZIPKIN, GATEWAY, max_orders=3).enrich(
        "OrderFailed", "firing", {"service": "shop"}, {}
    )
    assert shop.asked == [("failed", 3, False)]


async def test_an_order_failed_alert_with_no_recent_failure_says_so() -> None:
    shop = _ShopAnswer([_failed_order(OLD, NOW - timedelta(days=2), "bed adhesion")])
    enrichment = await Enricher(shop, ZIPKIN, GATEWAY).enrich(
        "OrderFailed", "firing", {"service": "shop"}, {"window_seconds": "900"}
    )
    assert enrichment["order_ids"] == []
    assert "order_id" not in enrichment
    assert enrichment["note"] == "no order failed within the alert's window"


async def test_a_resolved_order_failed_notice_keeps_what_its_firing_notice_found() -> None:
    shop = _ShopAnswer([])
    firing = {"order_id": NEWEST, "order_ids": [NEWEST], "verdict": "Failed …"}
    enrichment = await Enricher(shop, ZIPKIN, GATEWAY).enrich(
        "OrderFailed", "resolved", {"service": "shop"}, {}, firing
    )
    assert enrichment == firing
    assert shop.asked == []


def test_the_notifier_says_the_same_sentence_as_the_console_for_a_failed_order() -> None:
    order = _failed_order(NEWEST, NOW - timedelta(minutes=1), "filament runout")
    history = order["history"]
    steps = [
        Step(
            status=entry["status"],
            entered=datetime.fromisoformat(entry["at"]),
            left=datetime.fromisoformat(history[i + 1]["at"]) if i + 1 < len(history) else None,
            reason=entry["reason"],
        )
        for i, entry in enumerate(history)
    ]
    console = decide(
        "failed", steps, order["reason"], [], [], None, order_stuck_limits("production"), NOW
    )
    assert failure_verdict(order) == console["summary"]


def test_an_order_failed_message_lists_every_order_with_its_sentence_and_journey() -> None:
    notification = Notification(
        id=7,
        fingerprint="f",
        status="firing",
        alertname="OrderFailed",
        service="shop",
        severity="ticket",
        labels={},
        annotations={
            "summary": "shop: 2 orders failed in the last 15 minutes",
            "runbook_url": "docs/runbooks/OrderFailed.md",
        },
        starts_at=NOW,
        enrichment={
            "order_status": "failed",
            "order_id": NEWEST,
            "verdict": "Failed in production at 10:01:02: nozzle clog",
            "order_ids": [NEWEST, NEWER],
            "orders": [
                {
                    "id": NEWEST,
                    "verdict": "Failed in production at 10:01:02: nozzle clog",
                    "journey_url": f"{GATEWAY}/orders/{NEWEST}",
                },
                {
                    "id": NEWER,
                    "verdict": "Failed in production at 09:58:00: filament runout",
                    "journey_url": f"{GATEWAY}/orders/{NEWER}",
                },
            ],
            "links": {"journey": f"{GATEWAY}/orders/{NEWEST}"},
        },
    )
    assert render_text(notification).splitlines() == [
        "[FIRING] OrderFailed (ticket) shop",
        "shop: 2 orders failed in the last 15 minutes",
        f"order: {NEWEST}",
        "verdict: Failed in production at 10:01:02: nozzle clog",
        f"also failed: {NEWER}: Failed in production at 09:58:00: filament runout "
        f"({GATEWAY}/orders/{NEWER})",
        f"journey: {GATEWAY}/orders/{NEWEST}",
        "runbook: docs/runbooks/OrderFailed.md",
    ]
