"""The live indicators ``alexandrite status`` shows, read from Prometheus and the notifier:
orders per status, error rate and p95 latency per service, and the alerts firing now."""

from __future__ import annotations

import math
from typing import Any

import httpx
from rich.console import Console
from rich.table import Table

from alexandrite.common import platform

__all__ = ["print_indicators"]

PROMETHEUS = platform.PROMETHEUS.url

_SERVER = 'span_kind="SPAN_KIND_SERVER"'
QUERIES = {
    "orders": 'alexandrite_orders{job="shop"}',
    "oldest": 'alexandrite_order_oldest_age_seconds{job="shop"}',
    "error_rate": (
        f"sum by (service) (rate(traces_span_metrics_calls_total{{{_SERVER}, "
        'http_response_status_code=~"5.."}[5m]))'
        f" / sum by (service) (rate(traces_span_metrics_calls_total{{{_SERVER}}}[5m]))"
    ),
    "p95_ms": (
        "histogram_quantile(0.95, sum by (service, le) "
        f"(rate(traces_span_metrics_duration_milliseconds_bucket{{{_SERVER}}}[5m])))"
    ),
    "requests": f"sum by (service) (rate(traces_span_metrics_calls_total{{{_SERVER}}}[5m]))",
}


def _query(client: httpx.Client, expression: str) -> list[dict[str, Any]]:
    response = client.get(f"{PROMETHEUS}/api/v1/query", params={"query": expression})
    response.raise_for_status()
    result: list[dict[str, Any]] = response.json()["data"]["result"]
    return result


def _by(result: list[dict[str, Any]], label: str) -> dict[str, float]:
    return {item["metric"].get(label, "?"): float(item["value"][1]) for item in result}


def _seconds(value: float) -> str:
    if value <= 0:
        return "-"
    return f"{value:.0f} s" if value < 120 else f"{value / 60:.0f} min"


def print_indicators(console: Console) -> None:
    try:
        with httpx.Client(timeout=5.0) as client:
            values = {name: _query(client, expression) for name, expression in QUERIES.items()}
            alerts = client.get(f"{PROMETHEUS}/api/v1/alerts").json()["data"]["alerts"]
    except (httpx.HTTPError, KeyError, ValueError) as exc:
        console.print(f"[yellow]no indicators: Prometheus is not answering ({exc})[/yellow]")
        return
    orders, oldest = _by(values["orders"], "status"), _by(values["oldest"], "status")
    table = Table(title="Orders now (Shop)")
    table.add_column("status")
    table.add_column("orders", justify="right")
    table.add_column("oldest waiting", justify="right")
    for status, count in sorted(orders.items(), key=lambda item: -item[1]):
        table.add_row(status, f"{count:.0f}", _seconds(oldest.get(status, 0.0)))
    console.print(table)
    errors, p95, rates = (
        _by(values["error_rate"], "service"),
        _by(values["p95_ms"], "service"),
        _by(values["requests"], "service"),
    )
    services = Table(title="APIs over the last 5 minutes (from the Collector's span metrics)")
    for column in ("service", "requests/s", "error rate", "success ratio", "p95"):
        services.add_column(column, justify="left" if column == "service" else "right")
    for service in sorted(rates):
        error = errors.get(service, 0.0)
        latency = p95.get(service)
        services.add_row(
            service,
            f"{rates[service]:.2f}",
            f"{error:.1%}",
            f"{1 - error:.2%}",
            f"{latency:.0f} ms" if latency is not None and not math.isnan(latency) else "-",
        )
    console.print(services)
    firing = [alert for alert in alerts if alert.get("state") == "firing"]
    table = Table(title=f"Alerts firing: {len(firing)}")
    for column in ("alert", "severity", "summary"):
        table.add_column(column)
    for alert in firing:
        labels, annotations = alert.get("labels", {}), alert.get("annotations", {})
        table.add_row(
            labels.get("alertname", "?"),
            labels.get("severity", "?"),
            annotations.get("summary", ""),
        )
    console.print(table)
