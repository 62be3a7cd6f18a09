"""The journey page as a person reads it: the cause of each status linked to its span, an open
mesh's missing volume said in words, and no Python literal or raw ISO time anywhere."""

from __future__ import annotations

import re

from alexandrite.gateway.console_pages import journey_body

AT = "2026-12-01T11:58:57.175394+00:00"
TRACE = "11e74428c75a05e25827f1e6f480d04d"


def _status(status: str, service: str | None, span: str | None) -> dict[str, object]:
    return {
        "status": status,
        "entered_at": AT,
        "left_at": AT,
        "duration_s": 0.01,
        "current": False,
        "limit_s": 600.0 if status == "submitted" else None,
        "over_limit": False,
        "reason": "the model is not watertight" if status == "rejected" else None,
        "service": service,
        "cause_span": span,
        "cause_url": f"/traces/{TRACE}/spans/a000000000000001" if service else None,
        "trace_id": TRACE,
        "span_url": f"/traces/{TRACE}/spans/b000000000000001",
        "zipkin_url": f"/zipkin/traces/{TRACE}",
    }


def _rejected_journey() -> dict[str, object]:
    return {
        "order_id": "e36ebee7-849e-4763-96a9-ee89934f582c",
        "status": "rejected",
        "terminal": True,
        "verdict": {
            "state": "rejected",
            "summary": "Rejected in review at 11:58:57: the model is not watertight",
            "reason": "the model is not watertight",
            "step": None,
            "waiting_on": None,
        },
        "created_at": AT,
        "lifecycle_s": 0.2,
        "statuses": [
            _status("submitted", "shop-api", "post /api/v1/orders/{order_id}/submit"),
            _status("in_review", "crm-api", "publish order.in_review"),
            _status("rejected", None, None),
        ],
        "steps": [],
        "hops": [],
        "model": {
            "format": "stl",
            "size_bytes": 19251,
            "triangles": 384,
            "volume_cm3": None,
            "watertight": False,
            "upload_s": 0.1,
            "analysis_s": 0.016,
            "span_url": None,
        },
        "timeline_spans": [],
        "traces_available": True,
        "traces_note": None,
        "error_count": 0,
        "errors": [],
        "traces": [],
        "span_count": 0,
        "zipkin_search_url": "/zipkin/?tagQuery=order.id%3De36ebee7",
    }


def test_the_journey_page_names_each_statuss_cause_and_says_an_open_mesh_has_no_volume() -> None:
    html = journey_body(_rejected_journey())
    assert re.search(r'id="cause-in_review" href="[^"]+">crm-api</a>', html)
    assert "publish order.in_review" in html
    # A status whose trace is not read yet links the trace rather than naming a guess.
    assert "trace (not read yet)" in html
    assert "no volume (the mesh is not closed)" in html
    text = re.sub(r"<[^>]+>", " ", html)
    assert not re.search(r"\b(None|True|False)\b", text)
    assert not re.search(r"\d{4}-\d\d-\d\dT\d\d", text)
