"""``python -m bench`` (``make bench``): run every benchmark and write the results.

    python -m bench                       # all five, about 30-40 minutes on 2 cores
                                          # (the journey alone, on MariaDB then OpenSearch, ~20)
    python -m bench --quick               # shorter rounds, for development (about 5 minutes)
    python -m bench --only overhead,flow  # some: overhead, visibility, pipeline, flow, journey

Needs the platform's system servers and secrets (``alexandrite up`` once); it starts its own
services, Collector and Zipkin on free ports and stops them at the end. Results:
bench/results/<date>.json, <date>.md (the table) and <date>-*.png.
"""

from __future__ import annotations

import argparse
import datetime
import signal
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, NoReturn

from bench.flow import FlowConfig, run_flow
from bench.journey import JourneyConfig, run_journey
from bench.overhead import OverheadConfig, run_overhead
from bench.pipeline import (
    GENERATOR,
    capacity_on_opensearch,
    ensure_telemetrygen,
    measure_capacity,
)
from bench.platform import bench_amqp_url, fresh_databases, running_pipeline
from bench.profile import Profiler
from bench.report import machine, markdown, write_results
from bench.visibility import run_visibility

RESULTS = Path(__file__).resolve().parent / "results"
ALL = ("overhead", "visibility", "pipeline", "flow", "journey")


def _stop_on_term(signum: int, frame: object) -> NoReturn:
    # Unwind through every `finally`, so that no server the benchmark started is left behind.
    raise KeyboardInterrupt


def _journey(quick: bool, say: Callable[[str], None]) -> dict[str, Any]:
    config = JourneyConfig(copies=10, journeys=50, searches=10) if quick else JourneyConfig()
    say("6. order journeys with 1,000,000 spans in MariaDB, and Zipkin's tag search")
    on_mariadb = run_journey(config)
    say("6. the same on OpenSearch, Zipkin's distributed store")
    return {"journey": on_mariadb, "journey_opensearch": run_journey(config, "elasticsearch")}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="short rounds (development)")
    parser.add_argument("--only", default=",".join(ALL), help=f"comma-separated of {ALL}")
    parser.add_argument("--out", type=Path, default=RESULTS)
    parser.add_argument(
        "--profile",
        action="store_true",
        help="py-spy flame graphs of the services under load (bench/results/*-profile-*.svg)",
    )
    args = parser.parse_args(argv)
    wanted = {name.strip() for name in args.only.split(",") if name.strip()}
    unknown = wanted - set(ALL)
    if unknown:
        parser.error(f"unknown benchmark(s): {', '.join(sorted(unknown))}")
    signal.signal(signal.SIGTERM, _stop_on_term)
    quick = args.quick
    started = time.monotonic()
    stamp = datetime.datetime.now(datetime.UTC)
    results: dict[str, Any] = {
        "date": stamp.isoformat(timespec="seconds"),
        "quick": quick,
        "machine": machine(),
    }

    profiler = Profiler(args.out, stamp.strftime("%Y-%m-%dT%H%M%SZ")) if args.profile else None

    def say(message: str) -> None:
        print(f"[{time.monotonic() - started:6.0f} s] {message}", flush=True)

    if "pipeline" in wanted:
        ensure_telemetrygen()
    if wanted & {"overhead", "flow", "pipeline"}:
        with running_pipeline("mem", tag="-bench-mem", zipkin_heap="2g") as pipeline:
            if "overhead" in wanted:
                say("1. tracing overhead: order create and model upload")
                databases = fresh_databases(("shop", "files"))
                results["overhead"] = run_overhead(
                    pipeline,
                    databases,
                    bench_amqp_url(),
                    OverheadConfig(pairs=2, round_s=2.0) if quick else OverheadConfig(),
                    profiler=profiler,
                )
            if "flow" in wanted:
                say("4-5. whole flow and resources per 1,000 orders")
                results["flow"] = run_flow(
                    pipeline,
                    FlowConfig(pairs=1, orders=60) if quick else FlowConfig(),
                    profiler=profiler,
                )
            if "pipeline" in wanted:
                say("2. pipeline capacity, Zipkin in memory")
                results["pipeline"] = {
                    "generator": GENERATOR,
                    "runs": measure_capacity(
                        pipeline, (10_000,) if quick else (10_000, 20_000), 4.0 if quick else 6.0
                    ),
                }
    if wanted & {"visibility", "pipeline"}:
        with running_pipeline("mysql", tag="-bench-mysql") as pipeline:
            if "visibility" in wanted:
                say("3. time to visibility, Zipkin on MariaDB")
                results["visibility"] = run_visibility(
                    pipeline,
                    fresh_databases(("shop",), suffix="bench_seen"),
                    bench_amqp_url(),
                    orders=15 if quick else 40,
                )
            if "pipeline" in wanted:
                say("2. pipeline capacity, Zipkin on MariaDB")
                runs = measure_capacity(pipeline, (10_000,), 2.0 if quick else 3.0, drain_s=40.0)
                results.setdefault("pipeline", {"generator": GENERATOR, "runs": []})
                results["pipeline"]["runs"] += runs
    results |= _journey(quick, say) if "journey" in wanted else {}
    if "pipeline" in wanted:
        # The distributed store, same offered rate and window as MariaDB: side by side.
        results.setdefault("pipeline", {"generator": GENERATOR, "runs": []})["runs"] += (
            capacity_on_opensearch(quick, say)
        )
    results |= {"profiles": profiler.graphs} if profiler is not None else {}
    results["seconds"] = round(time.monotonic() - started, 1)
    written = write_results(results, args.out, stamp.strftime("%Y-%m-%dT%H%M%SZ"))
    print(markdown(results))
    for path in written:
        say(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
