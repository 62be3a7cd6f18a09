"""The benchmark's outputs: ``bench/results/<date>.json``, a Markdown table and PNG plots."""

from __future__ import annotations

import json
import math
import os
import platform
from pathlib import Path
from typing import Any

import psutil

__all__ = ["machine", "markdown", "plots", "write_results"]

TARGETS = {
    "create_ratio": 0.95,
    "create_p99_added_ms": 2.0,
    "capacity_spans_per_s": 10_000,
    "visibility_p95_s": 2.0,
    "flow_orders_per_s": 100.0,
    "flow_ratio": 0.95,
    "flow_cpu_ratio": 1.10,
    "spans_per_order": 30,
}


def machine() -> dict[str, Any]:
    cpu_model = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu_model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {
        "cpu": cpu_model,
        "cores": os.cpu_count(),
        "memory_gib": round(psutil.virtual_memory().total / 2**30, 1),
        "os": platform.platform(),
        "python": platform.python_version(),
        "load_average_at_start": [round(v, 2) for v in os.getloadavg()],
    }


def _fmt(value: Any, digits: int = 2) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    if isinstance(value, float):
        return f"{value:,.{digits}f}"
    return f"{value:,}" if isinstance(value, int) else str(value)


def _spread(entry: dict[str, Any], digits: int = 2) -> str:
    return (
        f"{_fmt(entry['median'], digits)} ({_fmt(entry['min'], digits)}–"
        f"{_fmt(entry['max'], digits)})"
    )


def _failures(failures: dict[str, dict[str, int]] | None) -> str:
    """': open loop 503 … ×5' after an error count, so the table says what the errors were."""
    parts = [
        f"{loop.replace('_', ' ')} {reason} ×{count}"
        for loop, reasons in (failures or {}).items()
        for reason, count in reasons.items()
    ]
    return f" ({'; '.join(parts)})" if parts else ""


def _verdict(met: bool | None) -> str:
    return "–" if met is None else ("met" if met else "**not met**")


def markdown(results: dict[str, Any]) -> str:
    """The results as Markdown: one table of targets, then one table per benchmark."""
    lines: list[str] = []
    m = results["machine"]
    lines += [
        f"Run {results['date']} on {m['cores']} cores ({m['cpu']}), {m['memory_gib']} GiB, "
        f"load average at start {m['load_average_at_start']}; whole run "
        f"{results.get('seconds', 0):.0f} s. Values: median (min–max) over alternated rounds.",
        "",
        "| benchmark | measured | target | verdict |",
        "|---|---|---|---|",
    ]
    overhead = results.get("overhead")
    if overhead:
        for name, label in (("order_create", "order create"), ("model_upload", "model upload")):
            for key, comparison in overhead[name]["comparisons"].items():
                ratio = comparison["throughput_ratio"]
                added = comparison["p99_added_ms"]
                lines.append(
                    f"| {label}: throughput {key} | {_spread(ratio, 3)} | ≥ 0.95 | "
                    f"{_verdict(ratio['median'] >= TARGETS['create_ratio'])} |"
                )
                lines.append(
                    f"| {label}: p99 added ({key}), ms | {_spread(added, 1)} | ≤ 2 ms | "
                    f"{_verdict(added['median'] <= TARGETS['create_p99_added_ms'])} |"
                )
    pipeline = results.get("pipeline")
    if pipeline:
        for run in pipeline["runs"]:
            rate = run["sustained_spans_per_s"]
            lossless = run["stored"] == run["sent"]
            met = bool(lossless and rate and rate >= TARGETS["capacity_spans_per_s"])
            pending = "still storing when the window closed, " if _still_storing(run) else ""
            lines.append(
                f"| pipeline → Zipkin {run['storage']}, offered {run['offered_spans_per_s']:,.0f}"
                f" spans/s: sustained spans/s; stored/sent | {_fmt(rate, 0)}; "
                f"{run['stored']:,}/{run['sent']:,} ({pending}lost {run.get('lost', 0):,}, "
                f"unaccounted {run['unaccounted']:,}) | ≥ 10,000, no loss | {_verdict(met)} |"
            )
    visibility = results.get("visibility")
    if visibility:
        lines.append(
            f"| time to visibility (order.id in Zipkin {visibility['storage']}), p50 / p95 s | "
            f"{_fmt(visibility['p50_s'])} / {_fmt(visibility['p95_s'])} | p95 ≤ 2 s | "
            f"{_verdict(visibility['p95_s'] <= TARGETS['visibility_p95_s'])} |"
        )
    flow = results.get("flow")
    if flow:
        traced = flow["sides"]["traced"]["orders_per_s"]
        untraced = flow["sides"]["untraced"]["orders_per_s"]
        lines.append(
            f"| whole flow, completed orders/s traced | {_spread(traced)} | ≥ 100 | "
            f"{_verdict(traced['median'] >= TARGETS['flow_orders_per_s'])} |"
        )
        lines.append(f"| whole flow, completed orders/s untraced | {_spread(untraced)} | – | – |")
        lines.append(
            f"| whole flow, traced ÷ untraced | {_spread(flow['traced_over_untraced'], 3)} "
            "| ≥ 0.95 | "
            f"{_verdict(flow['traced_over_untraced']['median'] >= TARGETS['flow_ratio'])} |"
        )
        if "cpu_ratio" in flow:
            lines.append(
                "| whole-flow CPU per 1,000 orders, traced (services + Collector + Zipkin) ÷ "
                f"untraced | {_fmt(flow['cpu_ratio'], 3)} (services alone "
                f"{_fmt(flow['cpu_ratio_services_only'], 3)}) | ≤ 1.10 | "
                f"{_verdict(flow['cpu_ratio'] <= TARGETS['flow_cpu_ratio'])} |"
            )
        if "cpu_ratio_under_load" in flow:
            load = flow["load_cpu_per_1000_orders"]
            lines.append(
                "| the same, each process's idle CPU taken out (CPU-s per 1,000 orders under "
                f"load: {_fmt(load.get('traced'), 1)} traced, {_fmt(load.get('untraced'), 1)} "
                f"untraced) | {_fmt(flow['cpu_ratio_under_load'], 3)} | ≤ 1.10 | "
                f"{_verdict(flow['cpu_ratio_under_load'] <= TARGETS['flow_cpu_ratio'])} |"
            )
        spans = flow.get("spans_per_completed_order")
        if spans is not None:
            lines.append(
                f"| spans per completed order (whole flow, stored in Zipkin) | {_fmt(spans, 1)} "
                f"| ≤ {TARGETS['spans_per_order']} | "
                f"{_verdict(spans <= TARGETS['spans_per_order'])} |"
            )
    for journey in (results.get("journey"), results.get("journey_opensearch")):
        if not journey:
            continue
        p95 = journey["journey_ms"]["p95"]
        lines.append(
            f"| order journey at {journey['stored_spans']:,} spans ({journey['orders']:,} orders,"
            f" {journey['storage']}), p50 / p95 ms | {_fmt(journey['journey_ms']['p50'], 0)} / "
            f"{_fmt(p95, 0)} | p95 ≤ 300 ms | {_verdict(p95 <= journey['target_journey_p95_ms'])} |"
        )
        before = journey.get("journey_per_trace_read_ms")  # results before 2026-12-01 lack it
        lines += (
            [
                f"| same orders, one Zipkin read per trace (as before), alternated "
                f"({journey['storage']}), p50 / p95 ms | {_fmt(before['p50'], 0)} / "
                f"{_fmt(before['p95'], 0)} | – | – |"
            ]
            if before
            else []
        )
        failed = len(journey.get("tag_search_failures", []))
        lines.append(
            f"| Zipkin tag search order.id=… on the same data ({journey['storage']}), "
            f"p50 / p95 ms | {_fmt(journey['tag_search_ms']['p50'], 0)} / "
            f"{_fmt(journey['tag_search_ms']['p95'], 0)} (answered {journey['tag_search_ms']['n']}"
            f", failed {failed}{': an error or no answer' if failed else ''}) | – | – |"
        )
        lines.append(
            f"| loading {journey['stored_spans']:,} spans into {journey['storage']}, s"
            f"{'; bytes per span stored' if journey.get('bytes_per_span') else ''} | "
            f"{_fmt(journey['load_s'], 0)}"
            f"{'; ' + _fmt(journey['bytes_per_span'], 0) if journey.get('bytes_per_span') else ''}"
            " | – | – |"
        )
    lines.append("")
    return "\n".join(lines) + "\n" + _details(results)


def _still_storing(run: dict[str, Any]) -> bool:
    """The pipeline run's count still moved in its last 10 s (older results: from the curve)."""
    if "still_storing_at_deadline" in run:
        return bool(run["still_storing_at_deadline"])
    curve = run.get("curve") or []
    if not curve or curve[-1][1] >= run["sent"]:
        return False
    end = curve[-1][0]
    return any(count < curve[-1][1] for at, count in curve if at >= end - 10.0)


def _profiles(results: dict[str, Any]) -> list[str]:
    """The top frames of each flame graph (``--profile``), by samples of their own."""
    lines: list[str] = []
    for name, graph in results.get("profiles", {}).items():
        if not graph.get("file"):
            lines += [f"**Profile {name}**: none ({graph.get('error', '')[:200]})", ""]
            continue
        lines += [
            f"**Profile {name}** ({graph['samples']:,} samples, `{graph['file']}`)",
            "",
            "| own samples % | frame | | with callees % | frame |",
            "|---|---|---|---|---|",
        ]
        for own, total in zip(graph["self"][:10], graph["total"][:10], strict=False):
            lines.append(
                f"| {own['percent']} | `{own['frame']}` | | {total['percent']} | "
                f"`{total['frame']}` |"
            )
        lines.append("")
    return lines


def _census(results: dict[str, Any]) -> list[str]:
    """The spans Zipkin held after the whole flow, per order, by service and name."""
    census = (results.get("flow") or {}).get("span_census")
    if not census:
        return []
    lines = [
        f"**Spans per order by name** (whole flow: {census['orders_seen']:,} orders seen in "
        f"Zipkin, {census['spans_per_order_seen']} spans each)",
        "",
        "| service: span | per order |",
        "|---|---|",
    ]
    lines += [f"| {name} | {count} |" for name, count in census["by_name_per_order"].items()]
    if census["without_order_id"]:
        missing = ", ".join(f"{k} ({v})" for k, v in census["without_order_id"].items())
        lines += ["", f"Spans without order.id: {missing}"]
    return [*lines, ""]


def _details(results: dict[str, Any]) -> str:
    lines: list[str] = _profiles(results) + _census(results)
    overhead = results.get("overhead")
    pipeline = results.get("pipeline")
    flow = results.get("flow")
    if overhead:
        lines += ["**Overhead** (closed loop for throughput, open loop for latency)", ""]
        lines += [
            "| request | side | req/s | p50 ms | p99 ms | errors |",
            "|---|---|---|---|---|---|",
        ]
        for name in ("order_create", "model_upload"):
            for side, values in overhead[name]["sides"].items():
                lines.append(
                    f"| {name.replace('_', ' ')} | {side} | {_spread(values['throughput_rps'], 0)}"
                    f" | {_spread(values['p50_ms'], 1)} | {_spread(values['p99_ms'], 1)} | "
                    f"{values['errors']}{_failures(values.get('failures'))} |"
                )
        lines.append("")
    if pipeline:
        lines += [
            f"**Pipeline capacity** ({pipeline['generator']})",
            "",
            "| storage | offered/s | sent/s | sustained/s | generated | sent (into the "
            "Collector) | exported | received by Zipkin | stored | lost | counted dropped "
            "| unaccounted | spans per CPU-s (Collector + Zipkin + store) | CPU s | peak RSS MiB |",
            "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
        ]
        for run in pipeline["runs"]:
            rss = ", ".join(f"{k} {v:.0f}" for k, v in run["peak_rss_mib"].items())
            cpu = ", ".join(f"{k} {v:.1f}" for k, v in run.get("cpu_s", {}).items())
            hops = " | ".join(
                f"{run[key]:,}" if key in run else "–"
                for key in ("generated", "sent", "exported", "zipkin_received", "stored", "lost")
            )
            lines.append(
                f"| {run['storage']} | {run['offered_spans_per_s']:,.0f} | "
                f"{_fmt(run['sent_spans_per_s'], 0)} | {_fmt(run['sustained_spans_per_s'], 0)} | "
                f"{hops} | {run['counted_dropped']:,} | "
                f"{run['unaccounted']:,} | {_fmt(run['spans_per_cpu_s'], 0)} | {cpu} | {rss} |"
            )
        lines += [
            "",
            "Sent is what reached the Collector; the generator's own SDK drops what its batch "
            "queue cannot hold (generated − sent). Lost = sent − stored.",
            "",
        ]
    if flow:
        lines += [
            f"**Resources per 1,000 completed orders** (whole flow, trace storage "
            f"{flow['trace_storage']})",
            "",
            "| process | CPU s / 1,000 orders | of which idle | under load | idle CPU % of a "
            "core | peak RSS MiB |",
            "|---|---|---|---|---|---|",
        ]
        for side, processes in flow["resources"].items():
            sums = [
                sum(v.get(key, 0.0) for v in processes.values())
                for key in (
                    "cpu_s_per_1000_orders",
                    "idle_cpu_s_per_1000_orders",
                    "load_cpu_s_per_1000_orders",
                    "idle_cpu_percent",
                )
            ]
            for name, values in processes.items():
                lines.append(
                    f"| {name} | {_fmt(values['cpu_s_per_1000_orders'], 1)} | "
                    f"{_fmt(values.get('idle_cpu_s_per_1000_orders'), 1)} | "
                    f"{_fmt(values.get('load_cpu_s_per_1000_orders'), 1)} | "
                    f"{_fmt(values.get('idle_cpu_percent'), 1)} | "
                    f"{_fmt(values['peak_rss_mib'], 0)} |"
                )
            lines.append(
                f"| **all {side}** | **{_fmt(sums[0], 1)}** | {_fmt(sums[1], 1)} | "
                f"**{_fmt(sums[2], 1)}** | {_fmt(sums[3], 1)} | |"
            )
        lines += [
            "",
            f"Idle: each process's CPU over a {_fmt(flow.get('idle_window_s'), 0)} s window with "
            "no order in flight (pollers, sweepers, the JVMs), times the rounds' length; under "
            "load = measured − idle.",
            "",
        ]
    return "\n".join(lines)


def plots(results: dict[str, Any], directory: Path, stem: str) -> list[Path]:
    """PNG plots where a curve says more than a number; returns the files written."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    written: list[Path] = []
    pipeline = results.get("pipeline")
    if pipeline:
        figure, axis = plt.subplots(figsize=(8, 4.5))
        for run in pipeline["runs"]:
            times = [point[0] for point in run["curve"]]
            counts = [point[1] for point in run["curve"]]
            label = f"{run['storage']}, {run['offered_spans_per_s']:,.0f}/s offered"
            axis.plot(times, counts, label=label)
            axis.axhline(run["sent"], linestyle=":", linewidth=0.8, color="grey")
        axis.set_xlabel("seconds since the generator started")
        axis.set_ylabel("spans stored in Zipkin")
        axis.set_title("Pipeline capacity: spans stored over time (dotted: spans sent)")
        axis.legend()
        figure.tight_layout()
        path = directory / f"{stem}-pipeline.png"
        figure.savefig(path, dpi=100)
        plt.close(figure)
        written.append(path)
    visibility = results.get("visibility")
    if visibility and visibility["delays_s"]:
        figure, axis = plt.subplots(figsize=(8, 4.5))
        delays = sorted(visibility["delays_s"])
        shares = [(index + 1) / len(delays) for index in range(len(delays))]
        axis.step(delays, shares, where="post")
        axis.axvline(2.0, linestyle="--", color="red", label="target p95 ≤ 2 s")
        axis.set_xlabel("seconds from the end of the create request to the trace in Zipkin")
        axis.set_ylabel("share of orders")
        axis.set_title("Time to visibility (cumulative)")
        axis.legend()
        figure.tight_layout()
        path = directory / f"{stem}-visibility.png"
        figure.savefig(path, dpi=100)
        plt.close(figure)
        written.append(path)
    return written


def write_results(results: dict[str, Any], directory: Path, stem: str) -> list[Path]:
    directory.mkdir(parents=True, exist_ok=True)
    json_path = directory / f"{stem}.json"
    json_path.write_text(json.dumps(results, indent=2, default=str) + "\n", encoding="utf-8")
    table_path = directory / f"{stem}.md"
    table_path.write_text(markdown(results) + "\n", encoding="utf-8")
    return [json_path, table_path, *plots(results, directory, stem)]
