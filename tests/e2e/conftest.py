"""The end-to-end tests talk to the platform that ``alexandrite up`` started (``make test`` does
that first): the real services, RabbitMQ, the Collector and Zipkin."""

from __future__ import annotations

import httpx
import pytest

from alexandrite.common import platform

ENDPOINTS = {
    process.name: str(process.ready_url)
    for process in (
        platform.SHOP,
        platform.CRM,
        platform.MES,
        platform.FILES,
        platform.ZIPKIN,
        platform.COLLECTOR,
    )
}


@pytest.fixture(scope="session", autouse=True)
def running_platform() -> None:
    down = []
    with httpx.Client(timeout=3) as client:
        for name, url in ENDPOINTS.items():
            try:
                if client.get(url).status_code >= 300:
                    down.append(name)
            except httpx.HTTPError:
                down.append(name)
    if down:
        pytest.fail(
            f"the platform is not running ({', '.join(down)} down): start it with "
            "`.venv/bin/alexandrite up` (make test does)",
            pytrace=False,
        )
