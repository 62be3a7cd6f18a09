"""Reading traces back from Zipkin's API, as a support engineer's tools would."""

from __future__ import annotations

from typing import Any

import httpx

from alexandrite.common import platform
from tests.support.polling import eventually

ZIPKIN = platform.ZIPKIN.url
Span = dict[str, Any]


async def spans_of_order(client: httpx.AsyncClient, order_id: str) -> list[Span]:
    response = await client.get(
        f"{ZIPKIN}/api/v2/traces",
        params={
            "annotationQuery": f"order.id={order_id}",
            "lookback": 3_600_000,
            "limit": 1000,
        },
    )
    response.raise_for_status()
    return [span for trace in response.json() for span in trace]


async def wait_for_order_spans(
    client: httpx.AsyncClient, order_id: str, until: Any, what: str, timeout: float = 30
) -> list[Span]:
    """Poll Zipkin until the order's spans satisfy ``until(spans)``."""

    async def probe() -> list[Span] | None:
        spans = await spans_of_order(client, order_id)
        return spans if spans and until(spans) else None

    return await eventually(probe, timeout=timeout, what=what)


def service(span: Span) -> str:
    return str(span.get("localEndpoint", {}).get("serviceName", ""))


def named(spans: list[Span], name: str) -> list[Span]:
    return [span for span in spans if span.get("name") == name]


def annotation_values(spans: list[Span]) -> list[str]:
    return [a["value"] for span in spans for a in span.get("annotations", [])]
