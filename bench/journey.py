"""Benchmark 6: the order journey at store size — 1,000,000 spans of 10,000 orders, on MariaDB
and on OpenSearch.

Zipkin (a database, or an OpenSearch node, of its own) is loaded through its own API with the
spans of 100 orders (about 100 spans each, in one trace per step, every span tagged ``order.id``
as the services tag them), which are then copied with new trace and order ids (SQL inside
MariaDB; bulk requests of transformed documents for OpenSearch), 10,000 orders spread over 6
days; a Shop of its own holds the same orders and their status history with the trace ids.
Then the gateway's ``JourneyBuilder`` (the code behind ``/orders/{id}``) builds the journeys of
random orders, timed end to end, and Zipkin's own tag search (``annotationQuery=order.id=<id>``,
what the journey did before) is timed on the same data.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import random
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import httpx

from alexandrite.common import platform
from alexandrite.common.status_limits import order_stuck_limits
from alexandrite.gateway.journey import JourneyBuilder
from alexandrite.gateway.waiting_point import LiveSources
from alexandrite.ops import mariadb
from alexandrite.ops.opensearch import (
    OpenSearchNode,
    ensure_index_settings,
    ensure_opensearch_installed,
    opensearch_program,
)
from alexandrite.ops.zipkin import (
    ZipkinDatabase,
    ensure_zipkin_jar,
    ensure_zipkin_schema,
    zipkin_program,
)
from bench.platform import (
    bench_amqp_url,
    bench_dir,
    bench_paths,
    fresh_databases,
    service_process,
    service_url,
)
from bench.processes import BenchProcess, free_port, wait_until
from bench.stats import percentile

__all__ = ["JourneyConfig", "run_journey"]

ZIPKIN_DB = "zipkin_bench_journey"
_STEPS = ("created", "submitted", "in_review", "approved", "queued", "in_production")
_SERVICES = ("shop-api", "crm-api", "mes-api", "file-storage")
Span = dict[str, Any]


@dataclass(frozen=True)
class JourneyConfig:
    template_orders: int = 100  # posted through Zipkin's API ...
    copies: int = 100  # ... then copied in MariaDB: 10,000 orders
    spans_per_order: int = 100
    journeys: int = 200
    searches: int = 30
    batch: int = 2_000


def _hex(bits: int) -> str:
    return f"{random.getrandbits(bits):0{bits // 4}x}"


@dataclass
class _Template:
    """One order of the template copy: its spans, history and what becomes of it."""

    number: int
    start: datetime
    final: str
    reason: str | None
    history: list[tuple[str, float, str, str]]  # status, seconds after start, trace low, span


def _order_id(copy: int, number: int) -> str:
    # The copy is the id's first 8 hex digits, so SQL can derive a copy's ids from the template.
    return f"{copy:08x}-0000-4000-8000-{number:012x}"


def _trace_id(copy: int, low: str) -> str:
    # ... and the trace id's high 64 bits (Zipkin's trace_id_high column).
    return f"{copy:016x}{low}"


def _template_order(
    number: int, start: datetime, spans_per_order: int
) -> tuple[list[dict[str, Any]], _Template]:
    """The spans of one template order (copy 1), one trace per step plus the model upload."""
    final = random.choices(["completed", "failed", "approved"], [85, 12, 3])[0]
    statuses = [*_STEPS[: 4 if final == "approved" else 6]]
    if final != "approved":
        statuses.append(final)
    lows = [_hex(64) for _ in range(len(statuses) + 1)]  # [0]: the model upload
    per_trace, extra = divmod(spans_per_order, len(lows))
    order_id = _order_id(1, number)
    spans: list[dict[str, Any]] = []
    history: list[tuple[str, float, str, str]] = []
    offset = 0.0
    for index, low in enumerate(lows):
        root = _hex(64)
        base = int((start + timedelta(seconds=offset)).timestamp() * 1e6)
        for position in range(per_trace + (extra if index == 0 else 0)):
            failed = final == "failed" and index == len(lows) - 1 and position == 1
            tags = {"order.id": order_id, "http.route": "/api/v1/orders/{order_id}"}
            if failed:
                tags |= {
                    "otel.status_code": "ERROR",
                    "printer": "P2",
                    "otel.status_description": "filament runout",
                }
            span: dict[str, Any] = {
                "traceId": _trace_id(1, low),
                "id": root if position == 0 else _hex(64),
                "name": "mes.job.fail" if failed else f"step {position}",
                "timestamp": base + position * 1000,
                "duration": 800,
                "localEndpoint": {"serviceName": _SERVICES[position % len(_SERVICES)]},
                "tags": tags,
            }
            if position == 0:
                span["kind"] = "SERVER"
            else:
                span["parentId"] = root
            spans.append(span)
        if index > 0:
            history.append((statuses[index - 1], offset, low, root))
        offset += random.uniform(1, 120)
    reason = "filament runout" if final == "failed" else None
    return spans, _Template(number, start, final, reason, history)


def _copy_sql(copy: int, shift_us: int) -> str:
    """Copy 1's rows as copy ``copy``: other trace ids and order ids, ``shift_us`` earlier."""
    prefix = f"'{copy:08x}'"
    return f"""
INSERT INTO zipkin_spans (trace_id_high, trace_id, id, name, remote_service_name, parent_id,
  debug, start_ts, duration)
SELECT {copy}, trace_id, id, name, remote_service_name, parent_id, debug, start_ts - {shift_us},
  duration FROM zipkin_spans WHERE trace_id_high = 1;
INSERT INTO zipkin_annotations (trace_id_high, trace_id, span_id, a_key, a_value, a_type,
  a_timestamp, endpoint_ipv4, endpoint_ipv6, endpoint_port, endpoint_service_name)
SELECT {copy}, trace_id, span_id, a_key,
  IF(a_key = 'order.id', CONCAT({prefix}, SUBSTRING(a_value, 9)), a_value), a_type,
  a_timestamp - {shift_us}, endpoint_ipv4, endpoint_ipv6, endpoint_port, endpoint_service_name
  FROM zipkin_annotations WHERE trace_id_high = 1;
"""


def _zipkin_database() -> ZipkinDatabase:
    from alexandrite.ops.tls import ensure_secret

    paths = bench_paths()
    password = ensure_secret(paths, "zipkin-bench-journey-db-password")
    mariadb.ensure_mariadb_running()
    mariadb.ensure_mariadb_database(ZIPKIN_DB, ZIPKIN_DB, password)
    db = ZipkinDatabase(password=password, name=ZIPKIN_DB, user=ZIPKIN_DB)
    ensure_zipkin_schema(paths, db)
    db.query("TRUNCATE zipkin_spans; TRUNCATE zipkin_annotations; TRUNCATE zipkin_dependencies;")
    return db


def _stored(db: ZipkinDatabase) -> int:
    return int(db.query("SELECT COUNT(*) FROM zipkin_spans;")[0][0])


def _copy_document(
    index_id: str, source: dict[str, Any], copy: int, shift_us: int
) -> tuple[str, str, dict[str, Any]]:
    """Copy 1's span document as copy ``copy``: the trace id's high half and the order id's
    first 8 hex digits are the copy's number (as in MariaDB), ``shift_us`` earlier, in the index
    of its new day, with Zipkin's id (trace id + content hash) re-prefixed."""
    trace_id = _trace_id(copy, source["traceId"][16:])
    order_id = f"{copy:08x}" + source["tags"]["order.id"][8:]
    timestamp = source["timestamp"] - shift_us
    document = {
        **source,
        "traceId": trace_id,
        "timestamp": timestamp,
        "timestamp_millis": timestamp // 1000,
        "tags": {**source["tags"], "order.id": order_id},
    }
    # Zipkin's search field, which its template keeps out of _source: rebuilt as Zipkin writes
    # it (BulkIndexWriter.addSearchFields), each tag's key and key=value.
    document["_q"] = [
        term
        for key, value in document["tags"].items()
        if len(key) + len(value) + 1 <= 256
        for term in (key, f"{key}={value}")
    ]
    day = datetime.fromtimestamp(timestamp / 1e6, UTC).date().isoformat()
    return f"zipkin-span-{day}", trace_id + index_id[index_id.index("-") :], document


def _bulk_body(documents: list[tuple[str, str, dict[str, Any]]]) -> bytes:
    lines = []
    for index, document_id, document in documents:
        lines.append(json.dumps({"index": {"_index": index, "_id": document_id}}))
        lines.append(json.dumps(document, separators=(",", ":")))
    return ("\n".join(lines) + "\n").encode()


def _opensearch_count(url: str) -> int:
    httpx.post(f"{url}/zipkin-span-*/_refresh", params={"allow_no_indices": "true"}, timeout=120)
    response = httpx.get(
        f"{url}/zipkin-span-*/_count", params={"allow_no_indices": "true"}, timeout=60
    )
    return int(response.json()["count"]) if response.status_code == 200 else 0


def _copy_in_opensearch(url: str, copies: int, shift: timedelta, posted: int) -> None:
    """Copies 2..``copies`` of copy 1's documents, bulk-indexed (the integ-test distribution has
    no scripting and no _reindex, so the copies are made here instead of inside the node)."""
    response = httpx.post(
        f"{url}/zipkin-span-*/_search",
        json={"query": {"prefix": {"traceId": _trace_id(1, "")}}, "size": posted},
        timeout=300,
    )
    response.raise_for_status()
    template = [(hit["_id"], hit["_source"]) for hit in response.json()["hits"]["hits"]]
    if len(template) != posted:
        raise RuntimeError(f"copy 1 has {len(template)} span documents, {posted} were posted")
    shift_us = int(shift.total_seconds() * 1e6)

    def index_copy(copy: int) -> None:
        body = _bulk_body(
            [_copy_document(i, source, copy, shift_us * (copy - 1)) for i, source in template]
        )
        answer = httpx.post(
            f"{url}/_bulk",
            content=body,
            headers={"content-type": "application/x-ndjson"},
            timeout=600,
        )
        answer.raise_for_status()
        if answer.json().get("errors"):
            raise RuntimeError(f"bulk of copy {copy} had errors: {answer.text[:500]}")

    # Two bulk requests at a time: one being indexed while the next is built.
    with ThreadPoolExecutor(max_workers=2) as pool:
        list(pool.map(index_copy, range(2, copies + 1)))


async def _post_template(config: JourneyConfig, zipkin_url: str) -> tuple[list[_Template], int]:
    """Copy 1 through Zipkin's own API, so that its rows are exactly what Zipkin writes."""
    random.seed(20261201)
    templates: list[_Template] = []
    spans: list[dict[str, Any]] = []
    start = datetime.now(UTC) - timedelta(hours=2)
    for number in range(config.template_orders):
        order_spans, template = _template_order(
            number, start + timedelta(seconds=number * 30), config.spans_per_order
        )
        spans += order_spans
        templates.append(template)
    async with httpx.AsyncClient(timeout=120) as client:
        for first in range(0, len(spans), config.batch):
            response = await client.post(
                f"{zipkin_url}/api/v2/spans",
                content=json.dumps(spans[first : first + config.batch]),
                headers={"content-type": "application/json"},
            )
            response.raise_for_status()
    return templates, len(spans)


async def _fill_shop(
    shop_db: str, templates: list[_Template], copies: int, shift: timedelta
) -> list[tuple[str, str]]:
    """Every copy's orders and status history (with the trace ids) in the bench Shop."""
    orders, history, chosen = [], [], []
    for copy in range(1, copies + 1):
        for template in templates:
            order_id = uuid.UUID(_order_id(copy, template.number))
            start = template.start - shift * (copy - 1)
            model = json.dumps({"format": "stl", "size_bytes": 684, "analysis": {"triangles": 12}})
            orders.append(
                (
                    order_id,
                    template.final,
                    "PLA",
                    1,
                    "Bench",
                    "bench@example.com",
                    model,
                    "EUR",
                    template.reason,
                    start,
                    start,
                )
            )
            for status, offset, low, span in template.history:
                reason = template.reason if status == template.final else None
                history.append(
                    (
                        order_id,
                        status,
                        start + timedelta(seconds=offset),
                        reason,
                        _trace_id(copy, low),
                        span,
                    )
                )
            chosen.append((str(order_id), template.final))
    connection = await asyncpg.connect(shop_db.replace("postgresql+asyncpg", "postgresql"))
    try:
        await connection.copy_records_to_table(
            "orders",
            columns=[
                "id",
                "status",
                "material",
                "quantity",
                "customer_name",
                "customer_email",
                "model",
                "currency",
                "reason",
                "created_at",
                "updated_at",
            ],
            records=orders,
        )
        await connection.copy_records_to_table(
            "order_status_history",
            columns=["order_id", "status", "at", "reason", "trace_id", "span_id"],
            records=history,
        )
    finally:
        await connection.close()
    return chosen


async def _time(
    config: JourneyConfig,
    zipkin_url: str,
    shop_url: str,
    orders: list[tuple[str, str]],
) -> dict[str, Any]:
    chosen = random.sample(orders, config.journeys + 20)
    shop = httpx.AsyncClient(base_url=shop_url, timeout=30)
    zipkin = httpx.AsyncClient(base_url=zipkin_url, timeout=120)
    rabbitmq = httpx.AsyncClient(
        base_url=f"http://{platform.HOST}:{platform.RABBITMQ.port_of('management')}",
        auth=("guest", "guest"),
        timeout=3,
    )
    mes = httpx.AsyncClient(base_url="http://127.0.0.1:1", timeout=1)
    live = LiveSources(rabbitmq, mes)
    limits = order_stuck_limits("production")
    builder = JourneyBuilder(shop, zipkin, live, limits)
    per_trace = _PerTraceJourneyBuilder(shop, zipkin, live, limits)
    journeys: list[float] = []
    per_trace_journeys: list[float] = []
    spans: list[int] = []
    verdicts: dict[str, int] = {}
    try:
        for index, (order_id, _) in enumerate(chosen):
            # Both ways on each order, which one first alternating: a load spike on the shared
            # machine, or a cache warmed by the first read, falls on both sides alike.
            sides = [(builder, journeys), (per_trace, per_trace_journeys)]
            for side, timings in sides if index % 2 else sides[::-1]:
                began = time.perf_counter()
                journey = await side.journey(uuid.UUID(order_id))
                elapsed = time.perf_counter() - began
                if index >= 20:  # the first ones warm connections and caches
                    timings.append(elapsed)
            if index >= 20:
                spans.append(journey["span_count"])
                state = journey["verdict"]["state"]
                verdicts[state] = verdicts.get(state, 0) + 1
        searches: list[float] = []
        failed_searches: list[str] = []
        end_ms = int(time.time() * 1000)
        for order_id, _ in random.sample(orders, config.searches):
            began = time.perf_counter()
            response = await zipkin.get(
                "/api/v2/traces",
                params={
                    "annotationQuery": f"order.id={order_id}",
                    "endTs": end_ms,
                    "lookback": 7 * 86400 * 1000,
                    "limit": 1000,
                },
            )
            elapsed = time.perf_counter() - began
            if response.status_code == 200 and response.json():
                searches.append(elapsed)
            else:  # an error or an empty answer is no search result: counted, not timed
                failed_searches.append(f"{response.status_code} after {elapsed:.1f} s")
    finally:
        for client in (shop, zipkin, rabbitmq, mes):
            await client.aclose()
    return {
        "journey_ms": _percentiles(journeys),
        "journey_reads": "many traces per Zipkin read (/api/v2/traceMany), as the gateway does",
        "journey_per_trace_read_ms": _percentiles(per_trace_journeys),
        "journey_spans_median": sorted(spans)[len(spans) // 2] if spans else 0,
        "verdicts": verdicts,
        "tag_search_ms": _percentiles(searches),
        "tag_search_failures": failed_searches,
    }


class _PerTraceJourneyBuilder(JourneyBuilder):
    """The journey as it read Zipkin before: one ``/api/v2/trace/{id}`` per trace, 8 at once;
    timed against the same orders as the gateway's builder (many traces per read), in turn."""

    async def traces(self, trace_ids: list[str]) -> tuple[list[list[Span]], str | None]:
        gate = asyncio.Semaphore(8)

        async def one(trace_id: str) -> list[Span]:
            async with gate:
                response = await self._zipkin.get(f"/api/v2/trace/{trace_id}")
            if response.status_code == 404:
                return []
            response.raise_for_status()
            spans: list[Span] = response.json()
            return spans

        found = await asyncio.gather(*map(one, trace_ids))
        return [spans for spans in found if spans], None


def _percentiles(values: list[float]) -> dict[str, float]:
    return {
        "n": len(values),
        "p50": round(percentile(values, 0.5) * 1000, 1),
        "p95": round(percentile(values, 0.95) * 1000, 1),
        "max": round(max(values) * 1000, 1) if values else float("nan"),
    }


def _loaded_as(config: JourneyConfig, how: str) -> str:
    return (
        f"{config.template_orders} orders posted to Zipkin's API, copied {config.copies} "
        f"times {how} with new trace and order ids, spread over 6 days"
    )


def run_journey(config: JourneyConfig | None = None, storage: str = "mysql") -> dict[str, Any]:
    """The journey on Zipkin with ``storage`` "mysql" (MariaDB) or "elasticsearch" (OpenSearch)."""
    config = config or JourneyConfig()
    if storage == "elasticsearch":
        return _run_on_opensearch(config)
    paths = bench_paths()
    db = _zipkin_database()
    port = free_port()
    program = zipkin_program(paths, "mysql", port=port, db=db, jar=ensure_zipkin_jar(paths))
    zipkin = BenchProcess(
        dataclasses.replace(program, name="zipkin-bench-journey"), bench_dir() / "logs"
    )
    shop_db, shop = _journey_shop()
    try:
        zipkin.start()
        shop.start()
        zipkin.wait_ready()
        shop.wait_ready()
        zipkin_url = f"http://127.0.0.1:{port}"
        began = time.perf_counter()
        templates, posted = asyncio.run(_post_template(config, zipkin_url))
        wait_until(lambda: _stored(db) >= posted, "the template's spans stored", 600, 2)
        # Copies spread back over 6 days, the newest first: what a week of orders looks like.
        shift = timedelta(seconds=6 * 86400 / config.copies)
        for copy in range(2, config.copies + 1):
            db.query(_copy_sql(copy, int(shift.total_seconds() * 1e6) * (copy - 1)), timeout=600)
        orders = asyncio.run(_fill_shop(shop_db, templates, config.copies, shift))
        load_s = time.perf_counter() - began
        spans = _stored(db)
        tags = int(db.query("SELECT COUNT(*) FROM zipkin_annotations;")[0][0])
        timings = asyncio.run(_time(config, zipkin_url, service_url(shop), orders))
    finally:
        shop.stop()
        zipkin.stop()
    return {
        "storage": "mysql (MariaDB)",
        "orders": config.template_orders * config.copies,
        "stored_spans": spans,
        "stored_annotation_rows": tags,
        "load_s": round(load_s, 1),
        "loaded_as": _loaded_as(config, "in MariaDB"),
        **timings,
        "target_journey_p95_ms": 300,
        "note": "machine shared with other engineers' work during the run",
    }


def _journey_shop() -> tuple[str, BenchProcess]:
    """The Shop whose trace index the journey reads (untraced), and its fresh database's URL."""
    shop_db = fresh_databases(("shop",), suffix="bench_journey")["shop"]
    shop = service_process(
        "shop",
        name="shop-bench-journey",
        database_url=shop_db,
        amqp_url=bench_amqp_url(),
        telemetry=None,
    )
    return shop_db, shop


def _run_on_opensearch(config: JourneyConfig) -> dict[str, Any]:
    paths = bench_paths()
    logs = bench_dir() / "logs"
    node = OpenSearchNode(name="bench-journey", http_port=free_port(), transport_port=free_port())
    ensure_opensearch_installed(paths, node)
    opensearch = BenchProcess(
        dataclasses.replace(opensearch_program(node), name="opensearch-bench-journey"), logs
    )
    port = free_port()
    program = zipkin_program(
        paths, "elasticsearch", port=port, opensearch_url=node.url, jar=ensure_zipkin_jar(paths)
    )
    zipkin = BenchProcess(dataclasses.replace(program, name="zipkin-bench-journey-os"), logs)
    shop_db, shop = _journey_shop()
    try:
        opensearch.start()
        shop.start()
        opensearch.wait_ready()
        httpx.delete(f"{node.url}/zipkin*", params={"expand_wildcards": "all"}, timeout=120)
        ensure_index_settings(node.url)
        zipkin.start()
        zipkin.wait_ready()
        shop.wait_ready()
        zipkin_url = f"http://127.0.0.1:{port}"
        began = time.perf_counter()
        templates, posted = asyncio.run(_post_template(config, zipkin_url))
        wait_until(
            lambda: _opensearch_count(node.url) >= posted, "the template's spans stored", 600, 2
        )
        shift = timedelta(seconds=6 * 86400 / config.copies)
        _copy_in_opensearch(node.url, config.copies, shift, posted)
        orders = asyncio.run(_fill_shop(shop_db, templates, config.copies, shift))
        spans = _opensearch_count(node.url)
        load_s = time.perf_counter() - began
        # Merge each day's segments as a node that has been running a week would have them.
        httpx.post(
            f"{node.url}/zipkin-span-*/_forcemerge", params={"max_num_segments": 5}, timeout=900
        )
        indices = httpx.get(
            f"{node.url}/_cat/indices/zipkin-span-*",
            params={"format": "json", "bytes": "b", "h": "index,docs.count,store.size"},
            timeout=60,
        ).json()
        store_bytes = sum(int(row["store.size"]) for row in indices)
        timings = asyncio.run(_time(config, zipkin_url, service_url(shop), orders))
    finally:
        shop.stop()
        zipkin.stop()
        opensearch.stop()
    return {
        "storage": "elasticsearch (OpenSearch)",
        "orders": config.template_orders * config.copies,
        "stored_spans": spans,
        "store_bytes": store_bytes,
        "bytes_per_span": round(store_bytes / spans, 1) if spans else None,
        "daily_indices": len(indices),
        "load_s": round(load_s, 1),
        "loaded_as": _loaded_as(config, "into OpenSearch (bulk requests)"),
        **timings,
        "target_journey_p95_ms": 300,
        "note": "machine shared with other engineers' work during the run",
    }
