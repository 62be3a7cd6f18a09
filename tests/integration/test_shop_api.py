"""The Shop API refuses, as 4xx problems, the request bodies PostgreSQL could not store.

Regression tests for 500s the OpenAPI fuzzing (test_openapi_fuzz.py) campaign found: text holding
the NUL character or a lone UTF-16 surrogate got through validation and failed at commit.
"""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

from tests.integration.conftest import Platform
from tests.integration.flow import place_order, shop_order

pytestmark = pytest.mark.integration

ORDER: dict[str, Any] = {
    "customer": {"name": "Ada Lovelace", "email": "ada@example.com"},
    "material": "PLA",
    "quantity": 1,
}


def _raw_json(body: Any) -> dict[str, Any]:
    # json.dumps escapes a lone surrogate as \ud800, valid JSON that Python's parser accepts.
    return {"content": json.dumps(body), "headers": {"content-type": "application/json"}}


@pytest.mark.parametrize(
    "order",
    [
        {**ORDER, "customer": {"name": "Ada\x00", "email": "ada@example.com"}},
        {**ORDER, "notes": "fragile\x00"},
        {**ORDER, "material": "PLA\x00"},
        {**ORDER, "notes": "\ud800"},
    ],
    ids=["nul-in-name", "nul-in-notes", "nul-in-material", "surrogate-in-notes"],
)
async def test_an_order_with_text_postgresql_cannot_store_is_refused(
    platform: Platform, order: dict[str, Any]
) -> None:
    async with httpx.AsyncClient(base_url=platform.shop.url, timeout=30) as client:
        response = await client.post("/api/v1/orders", **_raw_json(order))
    assert response.status_code == 422, response.text
    assert response.headers["content-type"].startswith("application/problem+json")


@pytest.mark.parametrize(
    "body",
    [
        {"reason": "changed my mind\x00"},
        {"reason": "\udfff"},
        {"reason": 42},
        {"reason": "x" * 2001},
        {"reason": ""},
        {"why": "unknown field"},
        ["not", "an", "object"],
    ],
    ids=["nul", "surrogate", "not-a-string", "too-long", "empty", "unknown-field", "not-an-object"],
)
async def test_a_cancellation_with_an_invalid_reason_is_refused_and_changes_nothing(
    platform: Platform, body: Any
) -> None:
    async with httpx.AsyncClient(timeout=30) as client:
        order_id = await place_order(client, platform)
        response = await client.post(
            f"{platform.shop.url}/api/v1/orders/{order_id}/cancel", **_raw_json(body)
        )
        assert response.status_code == 422, response.text
        assert response.headers["content-type"].startswith("application/problem+json")
        assert (await shop_order(client, platform, order_id))["status"] == "created"


async def test_a_cancellation_without_a_body_gives_the_default_reason(platform: Platform) -> None:
    async with httpx.AsyncClient(timeout=30) as client:
        order_id = await place_order(client, platform)
        response = await client.post(f"{platform.shop.url}/api/v1/orders/{order_id}/cancel")
        assert response.status_code == 200, response.text
        order = await shop_order(client, platform, order_id)
    assert order["status"] == "cancelled"
    assert order["reason"] == "cancelled by the customer"
