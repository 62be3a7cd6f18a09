"""The real Zipkin server on MariaDB: spans are stored, found by order id, and purged when old.

Each run uses its own database (`zipkin_test`, emptied first) and starts Zipkin from the cached
jar on a free port, so it never touches the local-mode `zipkin` database nor a Zipkin on 9411.
"""

from __future__ import annotations

import os
import secrets
import socket
import subprocess
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, Literal, TypeVar

import httpx
import pytest

from alexandrite.ops.paths import Paths
from alexandrite.ops.zipkin import (
    ZipkinDatabase,
    ensure_zipkin_jar,
    ensure_zipkin_schema,
    purge_old_traces,
    zipkin_program,
)

# The first run fetches a 135 MB jar; each Zipkin start takes tens of seconds.
pytestmark = pytest.mark.timeout(15 * 60)

TEST_DATABASE = "zipkin_test"
START_DEADLINE = 180.0
STORE_DEADLINE = 30.0

T = TypeVar("T")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _poll(probe: Callable[[], T | None], *, what: str, timeout: float) -> T:
    """Call `probe` until it returns something other than None, or fail after `timeout`."""
    deadline = time.monotonic() + timeout
    while True:
        result = probe()
        if result is not None:
            return result
        if time.monotonic() > deadline:
            pytest.fail(f"{what} not seen within {timeout:.0f} s")
        time.sleep(0.2)


def _ensure_database(name: str, user: str, password: str) -> None:
    try:
        from alexandrite.ops.mariadb import (  # type: ignore[import-not-found, unused-ignore]
            ensure_mariadb_database,
            ensure_mariadb_running,
        )
    except ImportError:
        # Stand-in until alexandrite.ops.mariadb lands: MariaDB must be running already, and
        # root logs in through the Unix socket.
        sql = (
            f"CREATE DATABASE IF NOT EXISTS `{name}`;"
            f"CREATE USER IF NOT EXISTS '{user}'@'localhost' IDENTIFIED BY '{password}';"
            f"ALTER USER '{user}'@'localhost' IDENTIFIED BY '{password}';"
            f"GRANT ALL ON `{name}`.* TO '{user}'@'localhost';"
        )
        subprocess.run(["mariadb", "-u", "root", "-e", sql], check=True, capture_output=True)
        return
    ensure_mariadb_running()
    ensure_mariadb_database(name, user, password)


@pytest.fixture(scope="module")
def paths(tmp_path_factory: pytest.TempPathFactory) -> Paths:
    # Real cache (the jar is fetched once per machine), throwaway state.
    state = tmp_path_factory.mktemp("state")
    return Paths(state=state, cache=Paths.from_env().cache).ensure()


@pytest.fixture(scope="module")
def jar(paths: Paths) -> Path:
    return ensure_zipkin_jar(paths)


@pytest.fixture(scope="module")
def db(paths: Paths, jar: Path) -> ZipkinDatabase:
    database = ZipkinDatabase(
        password=secrets.token_urlsafe(24), name=TEST_DATABASE, user=TEST_DATABASE
    )
    _ensure_database(database.name, database.user, database.password)
    database.query("DROP TABLE IF EXISTS zipkin_annotations, zipkin_spans, zipkin_dependencies;")
    return database


def _start_zipkin(
    paths: Paths, jar: Path, storage: Literal["mysql", "mem"], db: ZipkinDatabase | None = None
) -> tuple[subprocess.Popen[bytes], str, Path]:
    port = _free_port()
    program = zipkin_program(paths, storage, port=port, db=db, jar=jar)
    log_path = paths.logs / f"zipkin-{storage}-{port}.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            program.command,
            env={**os.environ, **program.environment},
            cwd=program.directory,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )
    ready_url = program.ready_url
    assert ready_url is not None
    started = time.monotonic()

    def healthy() -> bool | None:
        if process.poll() is not None:
            pytest.fail(f"Zipkin exited with {process.returncode}:\n{log_path.read_text()[-3000:]}")
        try:
            return True if httpx.get(ready_url, timeout=2).status_code == 200 else None
        except httpx.TransportError:
            return None

    _poll(healthy, what=f"Zipkin ({storage}) health", timeout=START_DEADLINE)
    print(f"Zipkin with {storage} storage ready in {time.monotonic() - started:.1f} s")
    return process, f"http://127.0.0.1:{port}", log_path


def _stop(process: subprocess.Popen[bytes]) -> None:
    process.terminate()
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


@pytest.fixture(scope="module")
def zipkin(paths: Paths, jar: Path, db: ZipkinDatabase) -> Iterator[str]:
    assert ensure_zipkin_schema(paths, db) == [
        "zipkin_spans",
        "zipkin_annotations",
        "zipkin_dependencies",
    ]
    process, url, _ = _start_zipkin(paths, jar, "mysql", db)
    yield url
    _stop(process)


def _span(order_id: str, *, at: float, name: str = "post /api/v1/orders") -> dict[str, Any]:
    timestamp = int(at * 1_000_000)
    return {
        "traceId": secrets.token_hex(16),
        "id": secrets.token_hex(8),
        "name": name,
        "kind": "SERVER",
        "timestamp": timestamp,
        "duration": 1500,
        "localEndpoint": {"serviceName": "shop"},
        "tags": {"order.id": order_id, "order.status": "placed"},
        "annotations": [{"timestamp": timestamp + 100, "value": "order.placed"}],
    }


def _post(url: str, *spans: dict[str, Any]) -> None:
    response = httpx.post(f"{url}/api/v2/spans", json=list(spans), timeout=10)
    assert response.status_code == 202, response.text


def _trace(url: str, trace_id: str) -> list[dict[str, Any]] | None:
    response = httpx.get(f"{url}/api/v2/trace/{trace_id}", timeout=10)
    return response.json() if response.status_code == 200 else None


def test_schema_is_applied_once_and_then_left_alone(
    zipkin: str, paths: Paths, db: ZipkinDatabase
) -> None:
    assert ensure_zipkin_schema(paths, db) == []
    # Re-running the upstream ALTERs would have added a second copy of every index.
    indexes = db.query(
        "SELECT COUNT(DISTINCT index_name) FROM information_schema.statistics"
        " WHERE table_schema = DATABASE() AND table_name = 'zipkin_annotations';"
    )
    assert indexes == [["7"]]


def test_zipkin_listens_on_loopback_only(zipkin: str) -> None:
    port = zipkin.rsplit(":", 1)[1]
    listening = subprocess.run(
        ["ss", "-Hltn", f"sport = :{port}"], check=True, capture_output=True, text=True
    ).stdout.split()
    # ss prints: State Recv-Q Send-Q Local-Address:Port Peer-Address:Port
    local = {line for line in listening if line.endswith(f":{port}")}
    assert local and local <= {f"127.0.0.1:{port}", f"[::ffff:127.0.0.1]:{port}"}, listening


def test_a_span_is_found_by_its_order_id(zipkin: str) -> None:
    order_id = str(uuid.uuid4())
    span = _span(order_id, at=time.time())
    _post(zipkin, span)

    def found() -> list[list[dict[str, Any]]] | None:
        response = httpx.get(
            f"{zipkin}/api/v2/traces",
            params={"annotationQuery": f"order.id={order_id}"},
            timeout=10,
        )
        assert response.status_code == 200, response.text
        traces: list[list[dict[str, Any]]] = response.json()
        return traces or None

    traces = _poll(found, what="the trace by order.id", timeout=STORE_DEADLINE)
    assert [[s["id"] for s in trace] for trace in traces] == [[span["id"]]]
    assert traces[0][0]["tags"]["order.id"] == order_id


def test_purge_deletes_traces_older_than_the_retention_and_keeps_new_ones(
    zipkin: str, db: ZipkinDatabase
) -> None:
    old_order, new_order = str(uuid.uuid4()), str(uuid.uuid4())
    old = _span(old_order, at=time.time() - 40 * 86400)
    new = _span(new_order, at=time.time() - 86400)
    _post(zipkin, old, new)
    _poll(lambda: _trace(zipkin, old["traceId"]), what="the old trace", timeout=STORE_DEADLINE)
    _poll(lambda: _trace(zipkin, new["traceId"]), what="the new trace", timeout=STORE_DEADLINE)
    db.query(
        "INSERT INTO zipkin_dependencies (day, parent, child, call_count, error_count) VALUES"
        " (CURDATE() - INTERVAL 40 DAY, 'shop', 'crm', 3, 0), (CURDATE(), 'shop', 'mes', 2, 1);"
    )

    def annotation_rows(order_id: str) -> int:
        rows = db.query(
            "SELECT COUNT(*) FROM zipkin_annotations a JOIN zipkin_annotations o"
            " ON a.trace_id_high = o.trace_id_high AND a.trace_id = o.trace_id"
            f" WHERE o.a_key = 'order.id' AND o.a_value = '{order_id}';"
        )
        return int(rows[0][0])

    old_annotations = annotation_rows(old_order)
    assert old_annotations >= 3  # two tags and one annotation at least

    deleted = purge_old_traces(30, db, batch_size=1)

    assert deleted == 1 + old_annotations + 1  # the span, its annotations, one dependency row
    assert annotation_rows(old_order) == 0
    assert annotation_rows(new_order) > 0
    assert db.query("SELECT parent, child FROM zipkin_dependencies;") == [["shop", "mes"]]
    assert _trace(zipkin, old["traceId"]) is None
    assert [s["id"] for s in _trace(zipkin, new["traceId"]) or []] == [new["id"]]
    assert purge_old_traces(30, db) == 0


def test_memory_storage_starts_and_answers(paths: Paths, jar: Path) -> None:
    process, url, _ = _start_zipkin(paths, jar, "mem")
    try:
        health = httpx.get(f"{url}/health", timeout=5).json()
        assert "InMemoryStorage{}" in health["zipkin"]["details"]
        span = _span(str(uuid.uuid4()), at=time.time())
        _post(url, span)
        stored = _poll(lambda: _trace(url, span["traceId"]), what="the span", timeout=10)
        assert [s["id"] for s in stored] == [span["id"]]
    finally:
        _stop(process)
