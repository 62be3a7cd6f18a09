"""OpenSearch as Zipkin's store: which daily indices retention deletes, and what Zipkin is told."""

from __future__ import annotations

from datetime import date
from pathlib import Path

from alexandrite.ops.opensearch import (
    INDEX_SETTINGS,
    OpenSearchNode,
    expired_indices,
    opensearch_program,
)
from alexandrite.ops.paths import Paths
from alexandrite.ops.zipkin import zipkin_program


def test_retention_picks_only_zipkin_days_older_than_the_limit() -> None:
    names = [
        "zipkin-span-2026-11-23",
        "zipkin-span-2026-11-24",
        "zipkin-dependency-2026-11-01",
        "zipkin-autocomplete-2026-11-20",
        "zipkin-span-2026-12-01",
        "zipkin-span-not-a-date",
        "orders-2020-01-01",
        ".opensearch-observability",
    ]
    assert expired_indices(names, 7, date(2026, 12, 1)) == [
        "zipkin-autocomplete-2026-11-20",
        "zipkin-dependency-2026-11-01",
        "zipkin-span-2026-11-23",
    ]


def test_zipkin_on_opensearch_uses_one_shard_and_no_replica(tmp_path: Path) -> None:
    program = zipkin_program(
        Paths(state=tmp_path, cache=tmp_path), "elasticsearch", opensearch_url="http://h:1"
    )
    assert program.environment["STORAGE_TYPE"] == "elasticsearch"
    assert program.environment["ES_HOSTS"] == "http://h:1"
    assert program.environment["ES_INDEX_REPLICAS"] == "0"
    assert program.environment["ES_INDEX_SHARDS"] == "1"


def test_zipkin_throttles_its_bulk_requests_to_opensearch_with_a_bounded_queue(
    tmp_path: Path,
) -> None:
    # Zipkin acks a POST before storing it: unthrottled, bulk requests pile up in OpenSearch
    # and those waiting past ES_TIMEOUT are dropped. Bounded: the queue lives in Zipkin's heap.
    environment = zipkin_program(Paths(state=tmp_path, cache=tmp_path), "elasticsearch").environment
    assert environment["STORAGE_THROTTLE_ENABLED"] == "true"
    assert 1 <= int(environment["STORAGE_THROTTLE_MAX_CONCURRENCY"]) <= 16
    assert 0 < int(environment["STORAGE_THROTTLE_MAX_QUEUE_SIZE"]) <= 200
    # The other stores are not throttled (MariaDB's writes wait on their connection pool).
    mysql = zipkin_program(Paths(state=tmp_path, cache=tmp_path), "mysql").environment
    assert "STORAGE_THROTTLE_ENABLED" not in mysql


def test_our_index_settings_are_dynamic_and_trade_a_few_seconds_for_throughput() -> None:
    # Dynamic settings (the retention job applies them to existing indices as well).
    assert set(INDEX_SETTINGS) == {
        "index.refresh_interval",
        "index.translog.durability",
        "index.translog.sync_interval",
    }
    assert INDEX_SETTINGS["index.translog.durability"] == "async"
    assert INDEX_SETTINGS["index.refresh_interval"] == "5s"


def test_the_node_is_started_as_its_own_user_and_before_zipkin() -> None:
    program = opensearch_program(OpenSearchNode(root=Path("/srv/os")))
    assert program.command[:2] == ["setpriv", "--reuid=alexandrite-opensearch"]
    assert program.command[-1] == "/srv/os/dist/2.19.4/bin/opensearch"
    assert program.environment["OPENSEARCH_PATH_CONF"] == "/srv/os/nodes/local/config"
    assert program.priority < 20


def test_the_stack_on_opensearch_runs_the_node_its_retention_and_no_mariadb_purge(
    tmp_path: Path,
) -> None:
    from alexandrite.ops.stack import StackOptions, programs
    from alexandrite.ops.tls import TlsMaterial

    paths = Paths(state=tmp_path, cache=tmp_path).ensure()
    on_opensearch = {
        program.name: program
        for program in programs(
            paths, TlsMaterial.at(paths), StackOptions(trace_storage="opensearch")
        )
    }
    assert {"opensearch", "opensearch-retention", "zipkin"} <= set(on_opensearch)
    assert "zipkin-retention" not in on_opensearch
    assert on_opensearch["zipkin"].environment["STORAGE_TYPE"] == "elasticsearch"
    retention = on_opensearch["opensearch-retention"].command
    assert retention[retention.index("--days") + 1] == "7"
