"""The support console's verdict sentences, span reading, lists, readable times and timeline."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

from alexandrite.common.readable import duration, moment
from alexandrite.common.status_limits import StatusLimit, order_stuck_limits
from alexandrite.gateway.journey import steps_of, summarise_traces
from alexandrite.gateway.order_lists import rows_for
from alexandrite.gateway.span_reading import business_spans, message_hops, span_errors
from alexandrite.gateway.timeline_svg import Axis
from alexandrite.gateway.verdict import decide

T0 = datetime(2026, 11, 28, 6, 0, 0, tzinfo=UTC)
LIMITS = {
    "approved": StatusLimit("approved", 900, "page"),
    "queued": StatusLimit("queued", 43200, "ticket"),
}


def _history(*entries: tuple[str, float, str | None]) -> list[dict[str, object]]:
    return [
        {
            "status": status,
            "at": (T0 + timedelta(seconds=at)).isoformat(),
            "trace_id": trace,
            "span_id": "00000000000000aa" if trace else None,
            "reason": None,
        }
        for status, at, trace in entries
    ]


def _us(seconds: float) -> int:
    return int((T0 + timedelta(seconds=seconds)).timestamp() * 1e6)


def _failed_print_span() -> dict[str, object]:
    event = json.dumps({"exception.type": "PrintFailed", "exception.message": "filament runout"})
    return {
        "traceId": "t3",
        "id": "f1",
        "name": "mes.job.fail",
        "timestamp": _us(3397),
        "duration": 2000,
        "localEndpoint": {"serviceName": "mes-api"},
        "tags": {
            "otel.status_code": "ERROR",
            "otel.status_description": "filament runout",
            "printer": "P2",
        },
        "annotations": [{"timestamp": _us(3397), "value": f"exception|{event}|0"}],
    }


def test_a_failed_print_says_where_when_on_which_printer_and_the_real_reason() -> None:
    steps = steps_of(
        _history(
            ("created", 0, "t1"),
            ("approved", 60, "t2"),
            ("queued", 61, "t2"),
            ("in_production", 70, "t3"),
            ("failed", 3397, "t3"),
        )
    )
    errors = span_errors([_failed_print_span()])
    verdict = decide("failed", steps, "filament runout", errors, [], None, LIMITS, T0, printer="P2")
    assert verdict["summary"] == (
        "Failed in production at 06:56:37 on printer P2: filament runout "
        "(mes-api, span mes.job.fail)"
    )
    assert verdict["state"] == "failed" and verdict["reason"] == "filament runout"
    assert verdict["step"] == {
        "service": "mes-api",
        "span": "mes.job.fail",
        "trace_id": "t3",
        "span_id": "f1",
    }
    assert errors[0].exception_type == "PrintFailed"


def test_an_order_past_its_limit_is_stalled_with_its_unconsumed_message_and_queue() -> None:
    steps = steps_of(_history(("created", 0, "t1"), ("approved", 60, "t2")))
    publish = {
        "traceId": "t2",
        "id": "p1",
        "name": "order.approved publish",
        "kind": "PRODUCER",
        "timestamp": _us(58),
        "duration": 100,
        "localEndpoint": {"serviceName": "crm-api"},
        "tags": {
            "messaging.system": "rabbitmq",
            "messaging.message.id": "m1",
            "messaging.operation.type": "send",
            "messaging.destination.name": "alexandrite.events:order.approved",
            "messaging.rabbitmq.destination.routing_key": "order.approved",
        },
    }
    waiting = {
        "service": "mes-api",
        "does": "queue a production job",
        "queue": "mes.events",
        "available": True,
        "ready": 1,
        "unacked": 0,
        "consumers": 0,
        "awaits": "order.approved",
    }
    now = T0 + timedelta(hours=4, minutes=11)
    verdict = decide("approved", steps, None, [], message_hops([publish]), waiting, LIMITS, now)
    assert verdict["state"] == "stalled"
    assert verdict["summary"] == (
        "Waiting 4 h 10 min in `approved`, limit 15 min: STALLED — its `order.approved` event "
        "was published at 06:00:58 and is not yet consumed by mes-api (queue `mes.events`: "
        "1 ready, 0 unacked, 0 consumers)"
    )
    assert verdict["limit_s"] == 900 and verdict["in_status_s"] == 4 * 3600 + 600
    assert verdict["waiting_on"]["consumers"] == 0


def test_an_order_within_its_limit_is_in_progress_and_names_its_job_and_printer() -> None:
    steps = steps_of(_history(("created", 0, "t1"), ("queued", 10, "t2")))
    waiting = {
        "service": "mes-api",
        "does": "start the job",
        "available": True,
        "job_id": "0123456789abcdef",
        "printer": None,
        "job_status": "queued",
    }
    verdict = decide("queued", steps, None, [], [], waiting, LIMITS, T0 + timedelta(seconds=70))
    assert verdict["state"] == "in_progress"
    assert verdict["summary"] == (
        "Waiting 1 min in `queued`, limit 12 h: in progress — MES job 01234567 is queued, "
        "no printer assigned yet"
    )


def test_completed_and_rejected_orders_say_how_long_and_why() -> None:
    done = steps_of(_history(("created", 0, None), ("completed", 4320, None)))
    assert decide("completed", done, None, [], [], None, LIMITS, T0)["summary"] == (
        "Completed in 1 h 12 min"
    )
    rejected = steps_of(
        _history(("created", 0, None), ("in_review", 5, None), ("rejected", 65, None))
    )
    verdict = decide("rejected", rejected, "model not printable", [], [], None, LIMITS, T0)
    assert verdict["summary"] == "Rejected in review at 06:01:05: model not printable"
    assert verdict["state"] == "rejected" and verdict["step"] is None


def test_a_problem_detail_is_the_message_of_a_failed_request() -> None:
    body = json.dumps({"title": "Conflict", "detail": "order is queued, not approved"})
    span = {
        "traceId": "t",
        "id": "s",
        "name": "POST /orders/{id}/approve",
        "timestamp": 1,
        "localEndpoint": {"serviceName": "crm-api"},
        "tags": {"http.response.status_code": "409"},
        "annotations": [
            {"timestamp": 1, "value": "http.problem|" + json.dumps({"problem.body": body}) + "|0"}
        ],
    }
    [error] = span_errors([span])
    assert error.message == "order is queued, not approved" and error.http_status == "409"


def test_database_statements_are_not_part_of_the_journey() -> None:
    spans = [
        {"name": "SELECT orders", "tags": {}},
        {"name": "insert", "tags": {}},
        {"name": "slow one", "tags": {"db.system": "postgresql"}},
        {"name": "process order.submitted", "tags": {"db.statement_count": "3"}},
        {"name": "POST /orders", "tags": {}},
    ]
    # A span that folds its statements (their count and time) is the business step itself.
    assert [s["name"] for s in business_spans(spans)] == ["process order.submitted", "POST /orders"]


def test_message_hops_pair_publish_and_consume_with_redelivery() -> None:
    common = {
        "messaging.system": "rabbitmq",
        "messaging.message.id": "m",
        "messaging.rabbitmq.destination.routing_key": "order.submitted",
    }
    spans = [
        {
            "traceId": "t",
            "id": "c",
            "kind": "CONSUMER",
            "timestamp": 3_000_000,
            "duration": 5,
            "localEndpoint": {"serviceName": "crm-api"},
            "tags": common
            | {
                "messaging.operation.type": "process",
                "messaging.consumer.group.name": "crm.events",
                "messaging.message.delivery_attempt": "2",
                "messaging.rabbitmq.redelivered": "true",
            },
        },
        {
            "traceId": "t",
            "id": "p",
            "kind": "PRODUCER",
            "timestamp": 1_000_000,
            "duration": 5,
            "localEndpoint": {"serviceName": "shop-api"},
            "tags": common | {"messaging.destination.name": "alexandrite.events:order.submitted"},
        },
    ]
    [hop] = message_hops(spans)
    assert (hop.exchange, hop.publisher, hop.published_us) == (
        "alexandrite.events",
        "shop-api",
        1_000_000,
    )
    [consumer] = hop.consumers
    assert consumer["queue"] == "crm.events" and consumer["attempt"] == 2
    assert consumer["redelivered"] and not consumer["dead_lettered"]


def test_durations_and_times_read_like_a_person_wrote_them() -> None:
    assert [duration(s) for s in (0.04, 2.5, 42, 185, 4 * 3600 + 600, 2 * 86400 + 3 * 3600)] == [
        "40 ms",
        "2.5 s",
        "42 s",
        "3 min 5 s",
        "4 h 10 min",
        "2 d 3 h",
    ]
    assert duration(None) == "-"
    assert moment(T0, T0) == "06:00:00 UTC"
    assert moment(T0, T0 + timedelta(days=2)) == "2026-11-28 06:00:00 UTC"


def test_the_lists_hold_stalled_recent_failures_and_todays_slowest() -> None:
    now = T0 + timedelta(hours=2)

    def order(oid: str, status: str, entered_h: float, created_h: float = 0) -> dict[str, object]:
        return {
            "id": oid,
            "status": status,
            "reason": "boom" if status == "failed" else None,
            "created_at": (T0 + timedelta(hours=created_h)).isoformat(),
            "history": [{"status": status, "at": (T0 + timedelta(hours=entered_h)).isoformat()}],
        }

    stalled = rows_for(
        "stalled",
        [order("a", "approved", 1.9), order("b", "approved", 0.5), order("c", "approved", 1.0)],
        LIMITS,
        now,
    )
    assert [row["order_id"] for row in stalled] == ["b", "c"]
    assert stalled[0]["journey_url"] == "/orders/b" and stalled[0]["limit_s"] == 900
    failed = rows_for("failed", [order("d", "failed", 1.0), order("e", "failed", -30)], LIMITS, now)
    assert [(row["order_id"], row["reason"]) for row in failed] == [("d", "boom")]
    slowest = rows_for(
        "slowest",
        [order("f", "completed", 1.5, 1.4), order("g", "completed", 1.5, 0.0)],
        LIMITS,
        now,
    )
    assert [row["order_id"] for row in slowest] == ["g", "f"]


def test_the_verdicts_use_the_alerts_own_limits_for_the_profile() -> None:
    assert order_stuck_limits("production")["approved"].seconds == 900
    assert order_stuck_limits("test")["approved"].seconds == 30
    assert "created" not in order_stuck_limits("production")


def test_the_timeline_axis_compresses_a_long_gap_but_keeps_the_order_of_moments() -> None:
    axis = Axis.through([0, 1, 2, 86400, 86401], 800)
    xs = [axis.x(t) for t in (0, 1, 2, 86400, 86401)]
    assert xs == sorted(xs) and xs[0] == 0 and abs(xs[-1] - 800) < 1e-6
    # One day is drawn less than 20 times wider than one second.
    assert (xs[3] - xs[2]) < 20 * (xs[1] - xs[0])
    assert [round(gap[2]) for gap in axis.compressed_gaps()] == [86398]


def test_error_summaries_carry_a_link_to_the_exact_span() -> None:
    summary = summarise_traces([[_failed_print_span()]])
    # Zipkin's UI opens a trace at its root whatever the URL says: the span has its own page.
    assert summary["errors"][0]["span_url"] == "/traces/t3/spans/f1"
    assert summary["errors"][0]["zipkin_url"] == "/zipkin/traces/t3"
    assert summary["errors"][0]["error"] == "filament runout"
