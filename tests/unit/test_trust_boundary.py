"""The public edge of a service (trust_boundary): whose trace context and baggage it keeps.

The app is a real FastAPI app instrumented by ``Telemetry.instrument_app``, called in memory
through ``httpx.ASGITransport`` (which the httpx instrumentation leaves alone, so the headers a
test sends are the headers the app receives).
"""

from __future__ import annotations

import secrets
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI, Request
from opentelemetry import baggage, trace
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind

from alexandrite.common.settings import TelemetrySettings
from alexandrite.common.telemetry import Telemetry
from alexandrite.common.telemetry.internal_calls import INTERNAL_CALLER
from alexandrite.common.telemetry.internal_credential import (
    INTERNAL_CREDENTIAL_HEADER,
    InternalCredential,
)
from alexandrite.common.telemetry.order_context import canonical_order_id, order_scope

VICTIM = "6f1c9a52-3f7e-4d2b-9a47-0c6f2b1e8d33"
FORGED_TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"
FORGED = f"00-{FORGED_TRACE}-00f067aa0ba902b7-01"


@pytest.fixture
def token(tmp_path: Path) -> str:
    value = secrets.token_urlsafe(32)
    (tmp_path / "internal-token").write_text(value + "\n")
    return value


@pytest.fixture
async def client(tmp_path: Path, token: str) -> AsyncIterator[httpx.AsyncClient]:
    settings = TelemetrySettings(
        internal_token_file=tmp_path / "internal-token",
        baggage_max_bytes=256,
        baggage_max_entries=4,
    )
    app = FastAPI()

    @app.api_route("/echo", methods=["GET", "POST"])
    async def echo(request: Request) -> dict[str, object]:
        return {
            "baggage_order": baggage.get_baggage("order.id"),
            "headers": sorted(request.headers.keys()),
        }

    @app.get("/orders/{order_id}")
    async def order(order_id: str) -> dict[str, str]:
        tracer = trace.get_tracer("tests")
        with order_scope(order_id), tracer.start_as_current_span("business.step"):
            return {"order_id": order_id}

    Telemetry.setup("edge-test", settings).instrument_app(app)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://edge") as http:
        yield http


def _server_span(spans: InMemorySpanExporter) -> ReadableSpan:
    (span,) = [s for s in spans.get_finished_spans() if s.kind is SpanKind.SERVER]
    return span


async def test_a_strangers_traceparent_is_not_joined_but_linked_as_untrusted(
    client: httpx.AsyncClient, spans: InMemorySpanExporter
) -> None:
    response = await client.get("/echo", headers={"traceparent": FORGED})
    assert response.status_code == 200
    span = _server_span(spans)
    assert format(span.context.trace_id, "032x") != FORGED_TRACE
    assert span.parent is None
    (link,) = span.links
    assert format(link.context.trace_id, "032x") == FORGED_TRACE
    assert dict(link.attributes or {}) == {"alexandrite.link.untrusted": True}
    assert "traceparent" not in response.json()["headers"]


async def test_a_strangers_baggage_never_names_an_order(
    client: httpx.AsyncClient, spans: InMemorySpanExporter
) -> None:
    response = await client.get("/echo", headers={"baggage": f"order.id={VICTIM}"})
    assert response.json()["baggage_order"] is None
    assert all((s.attributes or {}).get("order.id") != VICTIM for s in spans.get_finished_spans())


async def test_our_own_caller_keeps_its_trace_and_baggage_and_the_token_goes_no_further(
    client: httpx.AsyncClient, token: str, spans: InMemorySpanExporter
) -> None:
    # A POST: our own caller's successful GET is a bare read, dropped at export (the caller
    # records it; telemetry/internal_calls.py), checked below.
    response = await client.post(
        "/echo",
        headers={
            "traceparent": FORGED,
            "baggage": f"order.id={VICTIM}",
            INTERNAL_CREDENTIAL_HEADER: token,
        },
    )
    assert response.json()["baggage_order"] == VICTIM
    assert INTERNAL_CREDENTIAL_HEADER not in response.json()["headers"]
    span = _server_span(spans)
    assert format(span.context.trace_id, "032x") == FORGED_TRACE
    assert (span.attributes or {}).get("order.id") == VICTIM
    assert (span.attributes or {}).get(INTERNAL_CALLER) is True
    assert not span.links
    spans.clear()
    read = await client.get("/echo", headers={INTERNAL_CREDENTIAL_HEADER: token})
    assert read.status_code == 200
    assert [s for s in spans.get_finished_spans() if s.kind is SpanKind.SERVER] == []


@pytest.mark.parametrize(
    "credentials",
    [["wrong-" + "x" * 40], ["x"], ["y" * 10_000], "twice"],
    ids=["wrong token", "short token", "huge token", "right token twice"],
)
async def test_a_wrong_or_doubled_credential_is_a_stranger(
    client: httpx.AsyncClient,
    token: str,
    spans: InMemorySpanExporter,
    credentials: list[str] | str,
) -> None:
    values = [token, token] if credentials == "twice" else list(credentials)
    headers = [(INTERNAL_CREDENTIAL_HEADER, value) for value in values]
    headers.append(("traceparent", FORGED))
    await client.get("/echo", headers=headers)
    assert format(_server_span(spans).context.trace_id, "032x") != FORGED_TRACE


async def test_oversized_baggage_is_ignored_even_from_our_own_caller(
    client: httpx.AsyncClient, token: str, spans: InMemorySpanExporter
) -> None:
    padding = ",".join(f"k{index}=v" for index in range(10))
    response = await client.get(
        "/echo",
        headers={"baggage": f"order.id={VICTIM},{padding}", INTERNAL_CREDENTIAL_HEADER: token},
    )
    assert response.json()["baggage_order"] is None
    assert "alexandrite.baggage.ignored" in (_server_span(spans).attributes or {})
    response = await client.get(
        "/echo",
        headers={"baggage": f"order.id={VICTIM};p={'x' * 300}", INTERNAL_CREDENTIAL_HEADER: token},
    )
    assert response.json()["baggage_order"] is None


async def test_markup_in_an_order_id_is_never_stored_as_a_tag(
    client: httpx.AsyncClient, token: str, spans: InMemorySpanExporter
) -> None:
    await client.get("/orders/%3Cimg%20src%3Dx%3E")
    await client.get(
        "/echo",
        headers={"baggage": "order.id=%3Cimg%20src%3Dx%3E", INTERNAL_CREDENTIAL_HEADER: token},
    )
    tags = [(s.attributes or {}).get("order.id") for s in spans.get_finished_spans()]
    assert tags and all(tag is None for tag in tags)


async def test_a_valid_order_id_from_our_code_reaches_the_spans_below(
    client: httpx.AsyncClient, spans: InMemorySpanExporter
) -> None:
    order_id = str(uuid.uuid4())
    await client.get(f"/orders/{order_id}")
    (step,) = [s for s in spans.get_finished_spans() if s.name == "business.step"]
    assert (step.attributes or {})["order.id"] == order_id
    assert (_server_span(spans).attributes or {})["order.id"] == order_id


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (VICTIM, VICTIM),
        (VICTIM.upper(), VICTIM),
        (uuid.UUID(VICTIM), VICTIM),
        ("{" + VICTIM + "}", None),
        (VICTIM.replace("-", ""), None),
        ("urn:uuid:" + VICTIM, None),
        ("<img src=x>", None),
        (VICTIM + " ", None),
        ("", None),
        (None, None),
        (42, None),
    ],
)
def test_only_a_canonical_uuid_is_an_order_id(value: object, expected: str | None) -> None:
    assert canonical_order_id(value) == expected


def test_the_credential_never_shows_in_its_repr_and_refuses_a_short_token() -> None:
    token = secrets.token_urlsafe(32)
    assert token not in repr(InternalCredential(token))
    with pytest.raises(ValueError):
        InternalCredential("short")
    assert InternalCredential.from_file(Path("/nonexistent/internal-token")).headers() == {}
