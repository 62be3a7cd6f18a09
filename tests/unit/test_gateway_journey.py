"""The journey's summary of an order's traces and history, the proxy's path mapping and which
requests the audit middleware records."""

from __future__ import annotations

from datetime import UTC, datetime

from alexandrite.gateway.audit_middleware import audited_action
from alexandrite.gateway.journey import summarise_traces, timeline
from alexandrite.gateway.zipkin_proxy import clean_query, upstream_path


def _span(trace: str, span: str, service: str, start: int, duration: int, **extra: object):
    return {
        "traceId": trace,
        "id": span,
        "name": f"op {span}",
        "timestamp": start,
        "duration": duration,
        "localEndpoint": {"serviceName": service},
        **extra,
    }


def test_traces_are_summarised_with_services_spans_errors_and_links() -> None:
    traces = [
        [
            _span("t1", "a", "shop-api", 1_000_000, 500_000),
            _span("t1", "b", "file-storage", 1_100_000, 200_000, parentId="a"),
        ],
        [
            _span("t2", "c", "mes-api", 5_000_000, 100_000, tags={"error": "printer jammed"}),
        ],
    ]
    summary = summarise_traces(traces)
    assert summary["services"] == {"file-storage": 1, "mes-api": 1, "shop-api": 1}
    assert summary["span_count"] == 3 and summary["error_count"] == 1
    first, second = summary["traces"]
    assert first["root"] == {"name": "op a", "service": "shop-api"}
    assert first["duration_ms"] == 500.0 and first["zipkin_url"] == "/zipkin/traces/t1"
    assert summary["errors"][0]["error"] == "printer jammed"
    assert second["errors"] == 1


def test_time_per_status_runs_until_the_next_status_or_now() -> None:
    now = datetime(2026, 11, 28, 12, 0, 30, tzinfo=UTC)
    steps = timeline(
        [
            {"status": "submitted", "at": "2026-11-28T12:00:10Z"},
            {"status": "created", "at": "2026-11-28T12:00:00Z"},
        ],
        now,
    )
    assert [(s["status"], s["duration_s"], s["current"]) for s in steps] == [
        ("created", 10.0, False),
        ("submitted", 20.0, True),
    ]


def test_a_terminal_status_has_no_running_clock() -> None:
    steps = timeline(
        [{"status": "completed", "at": "2026-11-28T12:00:00+00:00"}],
        datetime(2026, 11, 29, tzinfo=UTC),
    )
    assert steps[0]["duration_s"] == 0 and not steps[0]["current"]


def test_the_zipkin_ui_and_api_map_to_zipkins_own_paths() -> None:
    assert upstream_path("/zipkin/") == "/zipkin/"
    assert upstream_path("/zipkin") == "/zipkin/"
    assert upstream_path("/zipkin/static/js/index.js") == "/zipkin/static/js/index.js"
    assert upstream_path("/zipkin/api/v2/traces") == "/api/v2/traces"


def test_every_request_is_audited_under_its_action_and_only_the_probes_are_not() -> None:
    assert audited_action("GET", "/zipkin/") == "zipkin.ui"
    assert audited_action("GET", "/zipkin/api/v2/services") == "zipkin.api"
    assert audited_action("GET", "/api/v1/orders/x/journey") == "journey"
    assert audited_action("GET", "/orders/x") == "journey"
    assert audited_action("POST", "/auth/login") == "login"
    assert audited_action("POST", "/auth/logout") == "logout"
    assert audited_action("GET", "/api/v1/orders") == "orders.list"
    assert audited_action("GET", "/auth/login") == "request"
    assert audited_action("GET", "/") == "request"
    assert audited_action("GET", "/static/x%00") == "request"
    assert audited_action("GET", "/health") is None
    assert audited_action("GET", "/ready") is None


def test_an_empty_search_term_from_the_zipkin_ui_is_dropped() -> None:
    lens = "annotationQuery=order.id%3Dabc+and+&endTs=1&lookback=900000&limit=10"
    assert clean_query(lens) == "annotationQuery=order.id%3Dabc&endTs=1&lookback=900000&limit=10"
    assert clean_query("serviceName=shop-api") == "serviceName=shop-api"
