"""The cause of each status and the page of one span: the Shop records every status change,
but the status table names the service whose span caused it; a span link opens that span."""

from __future__ import annotations

import json

from alexandrite.gateway.audit_middleware import audited_action
from alexandrite.gateway.span_page import SPAN_ID, TRACE_ID, span_body, span_view
from alexandrite.gateway.span_reading import cause_of

TRACE = "9205dc6f5ae6ea8cadc197fe64a30d5c"


def _span(span_id: str, service: str, name: str, parent: str | None = None, **extra: object):
    span: dict[str, object] = {
        "traceId": TRACE,
        "id": span_id,
        "name": name,
        "timestamp": 1_764_590_000_000_000,
        "duration": 1500,
        "localEndpoint": {"serviceName": service},
    }
    if parent:
        span["parentId"] = parent
    return span | extra


# The shape of a real trace of the stack: the Shop's submit, the CRM's review publishing
# order.approved, the Shop and the MES consuming it, the MES's failure event consumed by the Shop.
SPANS = [
    _span("a000000000000001", "shop-api", "post /api/v1/orders/{order_id}/submit"),
    _span("a000000000000002", "shop-api", "publish order.submitted", "a000000000000001"),
    _span("a000000000000003", "crm-api", "process order.submitted", "a000000000000002"),
    _span("a000000000000004", "crm-api", "crm.review_decision", "a000000000000003"),
    _span("a000000000000005", "crm-api", "publish order.approved", "a000000000000004"),
    _span("a000000000000006", "shop-api", "process order.approved", "a000000000000005"),
    _span("a000000000000007", "mes-api", "process order.approved", "a000000000000005"),
    _span(
        "a000000000000008",
        "mes-api",
        "mes.job.fail",
        "a000000000000007",
        tags={"otel.status_code": "ERROR", "printer": "P2"},
        annotations=[
            {
                "timestamp": 1_764_590_000_001_000,
                "value": "exception|"
                + json.dumps(
                    {
                        "exception.type": "PrintFailed",
                        "exception.message": "layer shift",
                        "exception.escaped": False,
                    }
                )
                + "|0",
            }
        ],
    ),
    _span("a000000000000009", "mes-api", "publish production.failed", "a000000000000008"),
    _span("a00000000000000a", "shop-api", "process production.failed", "a000000000000009"),
]


def test_a_status_the_shop_recorded_on_another_services_event_is_caused_by_that_service() -> None:
    approved = cause_of(SPANS, TRACE, "a000000000000006")
    failed = cause_of(SPANS, TRACE, "a00000000000000a")
    assert approved is not None and approved["localEndpoint"] == {"serviceName": "crm-api"}
    assert approved["name"] == "publish order.approved"
    assert failed is not None and failed["localEndpoint"] == {"serviceName": "mes-api"}
    assert failed["name"] == "publish production.failed"


def test_a_status_from_a_customers_request_is_caused_by_the_shop_itself() -> None:
    submitted = cause_of(SPANS, TRACE, "a000000000000001")
    assert submitted is not None and submitted["id"] == "a000000000000001"
    # Not read yet (the trace not stored) or from another trace: no cause rather than a guess.
    assert cause_of(SPANS, TRACE, "ffffffffffffffff") is None
    assert cause_of(SPANS, "0" * 32, "a000000000000006") is None


def test_a_parent_cycle_in_bad_data_ends_the_walk() -> None:
    looped = [
        _span("b000000000000001", "shop-api", "x", "b000000000000002"),
        _span("b000000000000002", "shop-api", "y", "b000000000000001"),
    ]
    cause = cause_of(looped, TRACE, "b000000000000001")
    assert cause is not None and cause["id"] == "b000000000000001"


def test_the_span_page_shows_that_span_its_error_callers_and_a_link_to_its_trace() -> None:
    view = span_view(SPANS, "a000000000000008")
    assert view is not None
    assert (view["service"], view["name"], view["error"]) == (
        "mes-api",
        "mes.job.fail",
        "layer shift",
    )
    assert [a["span_id"] for a in view["ancestors"]][-2:] == [
        "a000000000000005",
        "a000000000000007",
    ]
    assert [c["span_id"] for c in view["children"]] == ["a000000000000009"]
    html = span_body(view)
    assert 'id="span-id">a000000000000008<' in html
    assert f'href="/zipkin/traces/{TRACE}"' in html
    assert f'href="/traces/{TRACE}/spans/a000000000000007"' in html
    assert "PrintFailed: layer shift" in html and "<script" not in html
    assert "exception.escaped = no" in html and "False" not in html
    assert span_view(SPANS, "ffffffffffffffff") is None


def test_span_values_are_escaped_and_ids_are_checked() -> None:
    hostile = [_span("c000000000000001", "shop-api", "<script>alert(1)</script>")]
    view = span_view(hostile, "c000000000000001")
    assert view is not None and "<script>" not in span_body(view)
    assert TRACE_ID.match(TRACE) and TRACE_ID.match(TRACE[:16]) and not TRACE_ID.match("xyz")
    assert SPAN_ID.match("a000000000000001") and not SPAN_ID.match("a0000000000000011")


def test_a_span_page_is_audited_as_a_span_view() -> None:
    assert audited_action("GET", f"/traces/{TRACE}/spans/a000000000000001") == "span"
