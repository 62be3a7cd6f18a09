"""The Zipkin server as a supervised process, listening on 127.0.0.1 only.

Binding: Zipkin 3 serves through Armeria, whose listening ports are the Spring list
`armeria.ports`. A command-line property replaces that whole list, so the port, the address and
the protocol are all given (`--armeria.ports[0].ip=127.0.0.1` alone leaves the port unset, and
Armeria then picks a random one). Spring's `server.address` is ignored.

Heap: with MariaDB storage the server keeps no spans in memory; 512 MiB covers the UI, the
autocomplete cache and bursts of POSTed spans on a 2-core machine shared with a dozen other
processes. The memory storage is capped by MEM_MAX_SPANS to fit in the same heap. With
OpenSearch (`elasticsearch` storage) Zipkin writes daily indices with one shard and no replica:
one node holds them all, and a replica could never be placed on it (the index would stay
yellow). A JVM that runs out of memory exits, so the supervisor restarts it instead of leaving
it half-alive.

Zipkin's HTTP collector answers 202 as soon as a POST is decoded, before storage (zipkin2.collector
.Collector.accept): a store that fails loses the spans (counted in
zipkin_collector_spans_dropped_total), the Collector never retries them. Unthrottled, every POST
became a bulk request at once, OpenSearch (two write threads) queued them, and those waiting more
than ES_TIMEOUT were abandoned (ResponseTimeoutException, dropped) although OpenSearch indexed
most of them later. So on OpenSearch Zipkin's storage throttle is on: a few bulk requests in
flight (its limiter adapts between 2 and 8), the rest wait in a bounded queue in Zipkin's heap
(STORAGE_THROTTLE_MAX_QUEUE_SIZE POSTs of at most 1,024 spans); beyond it spans are dropped and
counted. docs/scaling.md has the figures.
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path
from typing import Literal

from alexandrite.common import platform
from alexandrite.ops.paths import Paths
from alexandrite.ops.program import Program
from alexandrite.ops.zipkin.database import ZipkinDatabase
from alexandrite.ops.zipkin.jar import zipkin_jar_path

__all__ = ["JVM_FLAGS", "ZIPKIN_PORT", "retention_program", "zipkin_program"]

ZIPKIN_PORT = platform.ZIPKIN.port
JVM_FLAGS = ("-Xms256m", "-Xmx512m", "-XX:+ExitOnOutOfMemoryError")
# Tags whose values the UI's search box offers. Not order.id: an order is still found by it
# (annotationQuery=order.id=<id>, or the gateway's journey), but Zipkin writes an autocomplete
# row per distinct value and span timestamp, about one extra store write per span for a
# dropdown of thousands of ids nobody picks from.
AUTOCOMPLETE_KEYS = "order.status"
# A span with a few tags takes 1-2 KiB in memory: 100 000 stay inside the 512 MiB heap.
MEM_MAX_SPANS = 100_000
# The throttle's queue for OpenSearch, in POSTs (the Collector's batches of 512-1,024 spans):
# at most ~100,000 spans waiting, the same heap budget as MEM_MAX_SPANS.
THROTTLE_QUEUE_POSTS = 100


def zipkin_program(
    paths: Paths,
    storage: Literal["mysql", "mem", "elasticsearch"],
    *,
    port: int = ZIPKIN_PORT,
    db: ZipkinDatabase | None = None,
    opensearch_url: str = platform.OPENSEARCH.url,
    jar: Path | None = None,
) -> Program:
    """Describe Zipkin on 127.0.0.1:`port` with MariaDB (`db`), OpenSearch or memory storage.

    The jar must have been fetched (ensure_zipkin_jar) and, for mysql, the schema applied.
    """
    environment = {
        "STORAGE_TYPE": storage,
        "QUERY_PORT": str(port),
        "AUTOCOMPLETE_KEYS": AUTOCOMPLETE_KEYS,
        # Zipkin's own spans would only add noise to the store it serves.
        "SELF_TRACING_ENABLED": "false",
    }
    if storage == "mysql":
        db = db or ZipkinDatabase.local(paths)
        environment |= {
            "MYSQL_HOST": db.host,
            "MYSQL_TCP_PORT": str(db.port),
            "MYSQL_DB": db.name,
            "MYSQL_USER": db.user,
            "MYSQL_PASS": db.password,
            "MYSQL_USE_SSL": "false",
        }
    elif storage == "elasticsearch":
        environment |= {
            "ES_HOSTS": opensearch_url,
            "ES_INDEX_SHARDS": "1",
            "ES_INDEX_REPLICAS": "0",
            "STORAGE_THROTTLE_ENABLED": "true",
            "STORAGE_THROTTLE_MIN_CONCURRENCY": "2",
            "STORAGE_THROTTLE_MAX_CONCURRENCY": "8",
            "STORAGE_THROTTLE_MAX_QUEUE_SIZE": str(THROTTLE_QUEUE_POSTS),
            # A bulk request of 1,024 spans takes under a second; 30 s rides out a merge or a
            # busy machine instead of abandoning a request OpenSearch will still carry out.
            "ES_TIMEOUT": "30000",
        }
    else:
        environment["MEM_MAX_SPANS"] = str(MEM_MAX_SPANS)
    return Program(
        name="zipkin",
        command=[
            shutil.which("java") or "java",
            *JVM_FLAGS,
            "-jar",
            str(jar or zipkin_jar_path(paths)),
            f"--armeria.ports[0].port={port}",
            "--armeria.ports[0].ip=127.0.0.1",
            "--armeria.ports[0].protocols[0]=http",
        ],
        environment=environment,
        directory=paths.state,
        ready_url=f"http://127.0.0.1:{port}/health",
        # The JVM and Spring take 10-30 s on 2 cores; more when the machine is busy.
        start_timeout=120.0,
        # Before the Collector (30), which exports to it.
        priority=20,
    )


def retention_program(days: int, every_s: int = 3600) -> Program:
    """The job that keeps MariaDB to ``days`` of traces (Zipkin has no retention of its own)."""
    return Program(
        name="zipkin-retention",
        command=[
            sys.executable,
            "-m",
            "alexandrite.ops.zipkin",
            "retention",
            "--days",
            str(days),
            "--every",
            str(every_s),
        ],
        priority=90,
    )
