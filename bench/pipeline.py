"""Benchmark 2: spans per second through SDK → Collector → Zipkin, every span accounted for.

The generator is the Collector project's own ``telemetrygen`` (Go module
github.com/open-telemetry/opentelemetry-collector-contrib/cmd/telemetrygen at v0.161.0, built
into the cache like the Collector): a Python generator would need about a core of its own to
offer 10 000 spans/s, and on two cores that core is taken from the Collector and Zipkin it
measures. telemetrygen uses the OpenTelemetry Go SDK with its batch processor and sends OTLP/gRPC
over TLS with our bearer token, as the services do.

Each run offers a fixed number of spans at a fixed rate to a Collector (our config, 100 %
sampling) and a Zipkin of its own, then follows how many are stored until the count stops
moving and nothing waits in the Collector's or Zipkin's queue. Every hop is counted:

- generated: what telemetrygen was asked for; its SDK drops spans (uncounted) when its batch
  queue is full because the Collector takes them slower than offered;
- sent: what reached the Collector (its receiver's accepted + refused spans): the pipeline's
  input, against which loss is measured;
- exported and received: the Collector's zipkin exporter's sent spans, Zipkin's received spans;
- stored: rows in MariaDB, span documents in OpenSearch (after a refresh), or for the memory
  storage the spans Zipkin accepted minus those it dropped;
- counted dropped: what the Collector and Zipkin count as refused, failed or dropped.

lost = sent − stored; unaccounted = sent − stored − counted dropped. A negative unaccounted means
a drop counted for spans that were stored after all: Zipkin counts a bulk request it abandoned
(ResponseTimeoutException after ES_TIMEOUT) as dropped, while OpenSearch still indexes it.
"""

from __future__ import annotations

import contextlib
import math
import os
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import psutil

from alexandrite.ops.collector_build import _go_environment, _go_executable
from alexandrite.ops.paths import Paths
from bench.platform import Pipeline, bench_dir, prometheus_values, running_pipeline

__all__ = ["GENERATOR", "capacity_on_opensearch", "ensure_telemetrygen", "measure_capacity"]

TELEMETRYGEN_VERSION = "v0.161.0"
TELEMETRYGEN_MODULE = "github.com/open-telemetry/opentelemetry-collector-contrib/cmd/telemetrygen"
SPANS_PER_TRACE = 10
WORKERS = 4

_COLLECTOR_DROPS = (
    "otelcol_receiver_refused_spans",
    "otelcol_receiver_failed_spans",
    "otelcol_exporter_send_failed_spans",
    "otelcol_exporter_enqueue_failed_spans",
    "otelcol_processor_dropped_spans",
)
_ZIPKIN_DROPS = ("zipkin_collector_spans_dropped_total",)


def ensure_telemetrygen(paths: Paths | None = None) -> Path:
    """Build telemetrygen into ``<cache>/gobin/telemetrygen-<version>/`` once."""
    paths = paths or Paths.from_env()
    gobin = paths.cache / "gobin" / f"telemetrygen-{TELEMETRYGEN_VERSION}"
    binary = gobin / "telemetrygen"
    if binary.exists():
        return binary
    gobin.mkdir(parents=True, exist_ok=True)
    go = _go_executable()
    subprocess.run(
        [go, "install", f"{TELEMETRYGEN_MODULE}@{TELEMETRYGEN_VERSION}"],
        env={**os.environ, **_go_environment(go, gobin)},
        check=True,
        timeout=30 * 60,
    )
    return binary


def _metric(text: str, name: str) -> float:
    return prometheus_values(text, name) + prometheus_values(text, f"{name}_total")


def _hops(pipeline: Pipeline) -> dict[str, float]:
    """Cumulative spans at each hop: into the Collector, out of it, into Zipkin."""
    collector = pipeline.collector_metrics()
    zipkin = pipeline.zipkin_metrics()
    return {
        "collector_in": _metric(collector, "otelcol_receiver_accepted_spans")
        + _metric(collector, "otelcol_receiver_refused_spans"),
        "exported": _metric(collector, "otelcol_exporter_sent_spans"),
        "zipkin_received": prometheus_values(zipkin, "zipkin_collector_spans_total"),
    }


def _backlog(pipeline: Pipeline) -> float:
    """Batches waiting in the Collector's queue plus POSTs queued or in flight in Zipkin's
    storage throttle (only on when storing to OpenSearch)."""
    collector = pipeline.collector_metrics()
    zipkin = pipeline.zipkin_metrics()
    return (
        prometheus_values(collector, "otelcol_exporter_queue_size")
        + prometheus_values(zipkin, "zipkin_storage_throttle_queue_size")
        + prometheus_values(zipkin, "zipkin_storage_throttle_in_flight_requests")
    )


def _counted_drops(pipeline: Pipeline) -> dict[str, float]:
    collector = pipeline.collector_metrics()
    zipkin = pipeline.zipkin_metrics()
    drops = {name: _metric(collector, name) for name in _COLLECTOR_DROPS}
    drops |= {name: prometheus_values(zipkin, name) for name in _ZIPKIN_DROPS}
    return drops


def _offer(
    binary: Path, pipeline: Pipeline, rate: float, seconds: float
) -> tuple[subprocess.Popen[bytes], int]:
    traces_per_worker = max(1, round(rate * seconds / SPANS_PER_TRACE / WORKERS))
    token = pipeline.token_file.read_text().strip()
    log = (bench_dir() / "logs" / "telemetrygen.log").open("wb")
    process = subprocess.Popen(
        [
            str(binary), "traces",
            "--otlp-endpoint", pipeline.otlp_endpoint,
            "--ca-cert", str(pipeline.ca_file),
            "--otlp-header", f'authorization="Bearer {token}"',
            "--workers", str(WORKERS),
            "--traces", str(traces_per_worker),
            # telemetrygen's rate limiter counts spans (not traces), per worker.
            "--rate", f"{rate / WORKERS:g}",
            "--child-spans", str(SPANS_PER_TRACE - 1),
            "--service", "bench-generator",
            "--telemetry-attributes", 'order.id="bench"',
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
    )  # fmt: skip
    return process, traces_per_worker * WORKERS * SPANS_PER_TRACE


def _one_rate(
    binary: Path, pipeline: Pipeline, rate: float, seconds: float, drain_s: float
) -> dict[str, Any]:
    before_stored = pipeline.stored_spans(refresh=True)
    before_drops = _counted_drops(pipeline)
    before_hops = _hops(pipeline)
    before_cpu = {p.name: p.sample().cpu_s for p in pipeline.resources()}
    started = time.monotonic()
    generator, generated = _offer(binary, pipeline, rate, seconds)
    generator_cpu = 0.0
    generator_process = psutil.Process(generator.pid)
    curve: list[tuple[float, int]] = []
    last_change = started
    stored = 0
    sent_at: float | None = None
    deadline = started + seconds + drain_s
    while time.monotonic() < deadline:
        time.sleep(0.25)
        now = time.monotonic()
        count = pipeline.stored_spans() - before_stored
        for process in pipeline.resources():
            process.sample()
        if count != stored:
            stored, last_change = count, now
        curve.append((round(now - started, 2), count))
        if sent_at is None:
            with contextlib.suppress(psutil.NoSuchProcess):
                times = generator_process.cpu_times()
                generator_cpu = times.user + times.system
            if generator.poll() is not None:
                sent_at = now
        # Done when everything is stored, or when nothing moved for 10 s after the last send
        # and nothing waits in a queue (OpenSearch's count moves only at each 5 s refresh).
        if stored >= generated or (
            sent_at is not None
            and now - max(last_change, sent_at) > 10.0
            and _backlog(pipeline) == 0
        ):
            break
    # The window closed while the count still moved: what is not stored yet may still be in
    # Zipkin's memory (it acks before storing), so "lost" is an upper bound then.
    still_storing = time.monotonic() >= deadline and time.monotonic() - last_change < 10.0
    if generator.poll() is None:
        generator.kill()
    generator.wait()
    stored = pipeline.stored_spans(refresh=True) - before_stored
    hops = {name: int(value - before_hops[name]) for name, value in _hops(pipeline).items()}
    sent = hops["collector_in"]
    drops = {
        name: value - before_drops.get(name, 0.0)
        for name, value in _counted_drops(pipeline).items()
    }
    dropped = int(sum(drops.values()))
    done_at = next((t for t, count in curve if count >= sent), math.nan)
    if math.isnan(done_at) and stored >= sent and curve:
        done_at = curve[-1][0]  # stored in full, seen at the final refresh
    # The sustained rate: the storage's slope between 10 % and 90 % of what it finally held.
    low = next((t for t, c in curve if c >= 0.1 * stored), math.nan)
    high = next((t for t, c in curve if c >= 0.9 * stored), math.nan)
    slope = 0.8 * stored / (high - low) if high > low else math.nan
    cpu = {p.name: round(p.sample().cpu_s - before_cpu[p.name], 2) for p in pipeline.resources()}
    cpu["telemetrygen"] = round(generator_cpu, 2)
    pipeline_cpu = sum(value for name, value in cpu.items() if name != "telemetrygen")
    return {
        "offered_spans_per_s": rate,
        "generated": generated,
        "not_delivered_by_generator": generated - sent,
        "sent": sent,
        "exported": hops["exported"],
        "zipkin_received": hops["zipkin_received"],
        "stored": stored,
        "lost": sent - stored,
        "still_storing_at_deadline": still_storing,
        "counted_dropped": dropped,
        "drops": {name: int(value) for name, value in drops.items() if value},
        "unaccounted": sent - stored - dropped,
        "generator_exit": generator.returncode,
        "send_seconds": round((sent_at or time.monotonic()) - started, 2),
        "sent_spans_per_s": round(sent / ((sent_at or time.monotonic()) - started), 1),
        "generated_spans_per_s": round(generated / ((sent_at or time.monotonic()) - started), 1),
        "all_stored_after_s": done_at,
        "end_to_end_spans_per_s": round(sent / done_at, 1) if not math.isnan(done_at) else None,
        "sustained_spans_per_s": round(slope, 1) if not math.isnan(slope) else None,
        "cpu_s": cpu,
        # Stored spans per CPU-second of the pipeline (Collector, Zipkin and a store server
        # such as OpenSearch when it is ours): what a core of this machine carries.
        "spans_per_cpu_s": round(stored / pipeline_cpu, 1) if pipeline_cpu else None,
        "peak_rss_mib": {p.name: round(p.peak_rss / 2**20, 1) for p in pipeline.resources()},
        "curve": curve,
    }


def measure_capacity(
    pipeline: Pipeline,
    rates: tuple[float, ...],
    seconds: float,
    drain_s: float = 45.0,
    warmup: tuple[tuple[float, float], ...] = ((2_000, 1.0),),
) -> list[dict[str, Any]]:
    """One run per offered rate through ``pipeline``, after uncounted warm-up rounds
    (``warmup``: offered spans/s and seconds of each), whose figures are kept apart."""
    binary = ensure_telemetrygen()
    # The first spans pay for the JVMs' warm-up and Zipkin's schema checks: not counted.
    warming = []
    for rate, warmup_s in warmup:
        round_ = _one_rate(binary, pipeline, rate, warmup_s, 60.0)
        warming.append({key: value for key, value in round_.items() if key != "curve"})
    runs = []
    for rate in rates:
        run = _one_rate(binary, pipeline, rate, seconds, drain_s)
        run["storage"] = pipeline.storage
        run["warmup_rounds"] = warming
        runs.append(run)
    return runs


def capacity_on_opensearch(quick: bool, say: Callable[[str], None]) -> list[dict[str, Any]]:
    """The MariaDB round (10,000 spans/s offered) on Zipkin's distributed store, OpenSearch."""
    with running_pipeline("elasticsearch", tag="-bench-opensearch") as pipeline:
        say("2. pipeline capacity, Zipkin on OpenSearch")
        # A node started for the run indexes with a cold JIT: on one node, successive rounds
        # of ~25,000 spans took 1,419, 1,608 then 2,940 spans per OpenSearch CPU-second after
        # a first 20,000 at 689 (docs/scaling.md). Warm it with ~80,000 spans, in rounds the
        # store absorbs (Zipkin's throttle queue holds ~50,000), before the counted one.
        warmup = ((2_000, 10.0), (10_000, 3.0), (10_000, 3.0))
        return measure_capacity(
            pipeline,
            (10_000,),
            2.0 if quick else 3.0,
            drain_s=40.0,
            warmup=((2_000, 10.0),) if quick else warmup,
        )


GENERATOR = (
    f"telemetrygen {TELEMETRYGEN_VERSION}, {WORKERS} workers, {SPANS_PER_TRACE} spans per trace, "
    "OTLP/gRPC + TLS + bearer token"
)
