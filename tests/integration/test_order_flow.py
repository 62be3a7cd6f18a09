"""Orders through the whole platform by hand: approve, start, complete; reject; fail; cancel."""

from __future__ import annotations

import httpx
import pytest

from alexandrite.files.samples import SampleKind
from tests.integration.conftest import Platform
from tests.integration.flow import (
    place_order,
    shop_order,
    submit,
    wait_for_crm_status,
    wait_for_job,
    wait_for_shop_status,
)
from tests.support.polling import eventually

pytestmark = pytest.mark.integration


async def test_an_approved_order_is_printed_and_completed(platform: Platform) -> None:
    async with httpx.AsyncClient(timeout=30) as client:
        order_id = await place_order(client, platform)
        await submit(client, platform, order_id)
        review = await wait_for_crm_status(client, platform, order_id, "in_review")
        assert float(review["price"]) > 0
        approved = await client.post(f"{platform.crm.url}/api/v1/orders/{order_id}/approve")
        assert approved.status_code == 200, approved.text
        job = await wait_for_job(client, platform, order_id)
        assert job["status"] == "queued"
        started = await client.post(f"{platform.mes.url}/api/v1/jobs/{job['id']}/start")
        assert started.status_code == 200, started.text
        await wait_for_shop_status(client, platform, order_id, "in_production")
        completed = await client.post(f"{platform.mes.url}/api/v1/jobs/{job['id']}/complete")
        assert completed.status_code == 200, completed.text
        order = await wait_for_shop_status(client, platform, order_id, "completed")
        await wait_for_crm_status(client, platform, order_id, "completed")

    assert [entry["status"] for entry in order["history"]] == [
        "created",
        "submitted",
        "in_review",
        "approved",
        "queued",
        "in_production",
        "completed",
    ]
    assert float(order["price"]) == float(review["price"])


async def test_a_rejected_order_ends_rejected_with_the_reason(platform: Platform) -> None:
    async with httpx.AsyncClient(timeout=30) as client:
        order_id = await place_order(client, platform)
        await submit(client, platform, order_id)
        await wait_for_crm_status(client, platform, order_id, "in_review")
        rejected = await client.post(
            f"{platform.crm.url}/api/v1/orders/{order_id}/reject",
            json={"reason": "wall thickness below 0.8 mm"},
        )
        assert rejected.status_code == 200, rejected.text
        order = await wait_for_shop_status(client, platform, order_id, "rejected")
    assert order["reason"] == "wall thickness below 0.8 mm"


async def test_a_failed_print_fails_the_order(platform: Platform) -> None:
    async with httpx.AsyncClient(timeout=30) as client:
        order_id = await place_order(client, platform, SampleKind.TORUS_OBJ)
        await submit(client, platform, order_id)
        await wait_for_crm_status(client, platform, order_id, "in_review")
        await client.post(f"{platform.crm.url}/api/v1/orders/{order_id}/approve")
        job = await wait_for_job(client, platform, order_id)
        await client.post(f"{platform.mes.url}/api/v1/jobs/{job['id']}/start")
        failed = await client.post(
            f"{platform.mes.url}/api/v1/jobs/{job['id']}/fail", json={"reason": "nozzle clog"}
        )
        assert failed.status_code == 200, failed.text
        order = await wait_for_shop_status(client, platform, order_id, "failed")
        await wait_for_crm_status(client, platform, order_id, "failed")
    assert order["reason"] == "nozzle clog"


async def test_a_cancelled_order_cancels_its_review_and_job(platform: Platform) -> None:
    async with httpx.AsyncClient(timeout=30) as client:
        order_id = await place_order(client, platform)
        await submit(client, platform, order_id)
        await wait_for_crm_status(client, platform, order_id, "in_review")
        await client.post(f"{platform.crm.url}/api/v1/orders/{order_id}/approve")
        job = await wait_for_job(client, platform, order_id)
        cancelled = await client.post(
            f"{platform.shop.url}/api/v1/orders/{order_id}/cancel",
            json={"reason": "ordered twice"},
        )
        assert cancelled.status_code == 200, cancelled.text
        await wait_for_crm_status(client, platform, order_id, "cancelled")

        async def job_cancelled() -> bool:
            response = await client.get(f"{platform.mes.url}/api/v1/jobs/{job['id']}")
            return bool(response.json()["status"] == "cancelled")

        await eventually(job_cancelled, what="the job to be cancelled")
        again = await client.post(f"{platform.shop.url}/api/v1/orders/{order_id}/cancel")
        assert again.status_code == 409
        assert again.headers["content-type"].startswith("application/problem+json")
        order = await shop_order(client, platform, order_id)
    assert order["status"] == "cancelled"


async def test_submitting_without_a_model_is_a_conflict(platform: Platform) -> None:
    async with httpx.AsyncClient(timeout=30) as client:
        created = await client.post(
            f"{platform.shop.url}/api/v1/orders",
            json={
                "customer": {"name": "A", "email": "a@example.com"},
                "material": "PLA",
                "quantity": 1,
            },
        )
        order_id = created.json()["id"]
        response = await client.post(f"{platform.shop.url}/api/v1/orders/{order_id}/submit")
    assert response.status_code == 409
    assert "upload one first" in response.json()["detail"]
