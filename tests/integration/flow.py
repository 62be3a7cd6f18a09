"""Steps of an order through the platform's public APIs, shared by the flow tests."""

from __future__ import annotations

from typing import Any

import httpx

from alexandrite.files.samples import SampleKind, sample_bytes
from tests.integration.conftest import Platform
from tests.support.polling import eventually


async def place_order(
    client: httpx.AsyncClient, platform: Platform, sample: SampleKind = SampleKind.CUBE_STL
) -> str:
    created = await client.post(
        f"{platform.shop.url}/api/v1/orders",
        json={
            "customer": {"name": "Grace Hopper", "email": "grace@example.com", "phone": "+1 555"},
            "material": "PETG",
            "quantity": 2,
        },
    )
    assert created.status_code == 201, created.text
    order_id = str(created.json()["id"])
    uploaded = await client.post(
        f"{platform.shop.url}/api/v1/orders/{order_id}/model",
        files={"file": (sample.value, sample_bytes(sample), "application/octet-stream")},
    )
    assert uploaded.status_code == 201, uploaded.text
    return order_id


async def submit(client: httpx.AsyncClient, platform: Platform, order_id: str) -> None:
    submitted = await client.post(f"{platform.shop.url}/api/v1/orders/{order_id}/submit")
    assert submitted.status_code == 202, submitted.text


async def shop_order(client: httpx.AsyncClient, platform: Platform, order_id: str) -> Any:
    response = await client.get(f"{platform.shop.url}/api/v1/orders/{order_id}")
    assert response.status_code == 200, response.text
    return response.json()


async def wait_for_shop_status(
    client: httpx.AsyncClient, platform: Platform, order_id: str, status: str
) -> Any:
    async def reached() -> Any:
        order = await shop_order(client, platform, order_id)
        return order if order["status"] == status else None

    return await eventually(reached, what=f"shop order {order_id} to be {status}")


async def wait_for_crm_status(
    client: httpx.AsyncClient, platform: Platform, order_id: str, status: str
) -> Any:
    async def reached() -> Any:
        response = await client.get(f"{platform.crm.url}/api/v1/orders/{order_id}")
        if response.status_code != 200:
            return None
        review = response.json()
        return review if review["status"] == status else None

    return await eventually(reached, what=f"CRM review of {order_id} to be {status}")


async def wait_for_job(client: httpx.AsyncClient, platform: Platform, order_id: str) -> Any:
    async def job() -> Any:
        response = await client.get(
            f"{platform.mes.url}/api/v1/jobs", params={"order_id": order_id}
        )
        jobs = response.json()
        return jobs[0] if jobs else None

    return await eventually(job, what=f"a production job for {order_id}")
