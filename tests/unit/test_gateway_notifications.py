"""The console's notifications page: each notification with its alert, status, time and summary,
and every order it names linked to its journey (no servers; the notifier's answers are written
here as the notifier's NotificationView documents)."""

from __future__ import annotations

import uuid

import httpx

from alexandrite.gateway.audit_middleware import audited_action
from alexandrite.gateway.console_pages import home_body
from alexandrite.gateway.notifications import (
    NotificationsReader,
    notification_row,
    notifications_body,
)
from alexandrite.gateway.pages import notifications_page
from alexandrite.gateway.principal import Principal
from tests.support.infra import free_port

FAILED_1 = "33333333-3333-4333-8333-333333333333"
FAILED_2 = "22222222-2222-4222-8222-222222222222"
STUCK = "7f3c0a4e-1b2d-4c5e-8f90-123456789abc"


def _failure_notification() -> dict[str, object]:
    return {
        "id": 12,
        "status": "firing",
        "alertname": "OrderFailed",
        "service": "shop",
        "severity": "ticket",
        "annotations": {"summary": "shop: orders failed in the last 15 minutes (about 2)"},
        "starts_at": "2026-12-01T10:00:00+00:00",
        "received_at": "2026-12-01T10:00:05+00:00",
        "enrichment": {
            "order_id": FAILED_1,
            "verdict": "Failed in production at 10:00:01: nozzle <clog>",
            "order_ids": [FAILED_1, FAILED_2],
            "orders": [
                {"id": FAILED_1, "verdict": "Failed in production at 10:00:01: nozzle <clog>"},
                {"id": FAILED_2, "verdict": "Failed in production at 09:58:00: filament runout"},
            ],
        },
    }


def _stuck_notification() -> dict[str, object]:
    return {
        "id": 11,
        "status": "resolved",
        "alertname": "OrderStuck",
        "service": "shop",
        "severity": "page",
        "annotations": {"summary": "shop: an order has been in status approved for 31s"},
        "starts_at": "2026-12-01T09:00:00+00:00",
        "received_at": "2026-12-01T09:00:02+00:00",
        "enrichment": {
            "order_id": STUCK,
            "verdict": "Waiting 31 s in `approved`, limit 30 s: STALLED; the journey shows where",
            "order_ids": [STUCK, "not-an-order-id"],
            "orders": [{"id": STUCK, "age_seconds": 31.0, "past_limit": True}],
        },
    }


def test_a_failure_notification_links_each_failed_order_to_its_journey_with_its_reason() -> None:
    row = notification_row(_failure_notification())
    assert [(o["order_id"], o["journey_url"]) for o in row["orders"]] == [
        (FAILED_1, f"/orders/{FAILED_1}"),
        (FAILED_2, f"/orders/{FAILED_2}"),
    ]
    assert row["orders"][1]["verdict"] == "Failed in production at 09:58:00: filament runout"
    html = notifications_body([row])
    assert f'href="/orders/{FAILED_1}"' in html
    assert f'href="/orders/{FAILED_2}"' in html
    assert "filament runout" in html
    # The reason is escaped, never markup.
    assert "nozzle &lt;clog&gt;" in html and "<clog>" not in html
    assert "OrderFailed" in html and "firing" in html and "10:00:05" in html
    assert "shop: orders failed in the last 15 minutes (about 2)" in html


def test_a_stuck_notification_links_its_order_and_drops_what_is_no_order_id() -> None:
    row = notification_row(_stuck_notification())
    assert [o["order_id"] for o in row["orders"]] == [STUCK]
    assert row["orders"][0]["verdict"].startswith("Waiting 31 s in `approved`")
    assert "not-an-order-id" not in notifications_body([row])


def test_the_page_lists_notifications_in_the_given_order_with_no_script() -> None:
    rows = [notification_row(_failure_notification()), notification_row(_stuck_notification())]
    principal = Principal(user_id=uuid.uuid4(), name="sam", roles=("support",), via="session")
    page = notifications_page(rows, principal)
    assert page.index("OrderFailed") < page.index("OrderStuck")
    assert "<script" not in page
    assert page.count('class="journey"') == 3


def test_a_notification_without_orders_says_why() -> None:
    row = notification_row(
        {
            "id": 3,
            "status": "firing",
            "alertname": "OrderFailed",
            "annotations": {},
            "enrichment": {"order_ids": [], "note": "no order failed within the alert's window"},
        }
    )
    assert row["orders"] == []
    assert "no order failed within the alert&#x27;s window" in notifications_body([row])
    unenriched = notification_row(
        {
            "id": 4,
            "status": "firing",
            "alertname": "CollectorDown",
            "annotations": {},
            "enrichment": None,
        }
    )
    assert "no order named" in notifications_body([unenriched])


def test_no_notification_and_an_unreachable_notifier_are_said_on_the_page() -> None:
    assert 'id="notifications-empty"' in notifications_body([])
    html = notifications_body("notifications unavailable: the notifier did not answer (X)")
    assert 'id="notifications-error"' in html


async def test_an_unreachable_notifier_is_a_sentence_not_an_exception() -> None:
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{free_port()}") as client:
        answer = await NotificationsReader(client).latest(50)
    assert answer == "notifications unavailable: the notifier did not answer (ConnectError)"


def test_the_home_page_links_the_notifications_and_the_page_is_audited() -> None:
    assert 'href="/notifications"' in home_body({})
    assert audited_action("GET", "/notifications") == "notifications.list"
    assert audited_action("GET", "/api/v1/notifications") == "notifications.list"
