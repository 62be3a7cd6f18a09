"""A Collector restart loses no span: its sending queue is on disk (file_storage).

Two cases against a real Collector (our config.yaml) and a Zipkin (memory storage) of the
test's own: a restart in the middle of a steady load, and a restart while Zipkin is down, when
everything the Collector accepted waits in its queue (an in-memory queue would lose all of it).
"""

from __future__ import annotations

import contextlib
import os
import secrets
import subprocess
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from alexandrite.ops.collector import (
    CollectorSettings,
    collector_program,
    ensure_collector_binary,
)
from alexandrite.ops.paths import Paths
from bench.pipeline import ensure_telemetrygen
from bench.platform import prometheus_values
from tests.support.collector import free_port, make_ca_and_server_cert, wait_for_health
from tests.support.load import Load, run_generator, telemetrygen_command, zipkin_span_ids
from tests.support.stores import running_zipkin

pytestmark = [pytest.mark.stores, pytest.mark.timeout(10 * 60)]

STORE_DEADLINE = 60.0


@dataclass(frozen=True)
class Bench:
    paths: Paths
    binary: Path
    generator: Path
    ca_file: Path
    cert_file: Path
    key_file: Path
    token_file: Path


@pytest.fixture(scope="module")
def bench(tmp_path_factory: pytest.TempPathFactory) -> Bench:
    paths = Paths(state=tmp_path_factory.mktemp("state"), cache=Paths.from_env().cache).ensure()
    ca, cert, key = make_ca_and_server_cert(paths.tls)
    token = paths.secrets / "otlp-token"
    token.write_text(secrets.token_urlsafe(24))
    return Bench(
        paths, ensure_collector_binary(paths), ensure_telemetrygen(paths), ca, cert, key, token
    )


def _settings(bench: Bench, zipkin_port: int, queue: Path) -> CollectorSettings:
    return CollectorSettings(
        otlp_grpc_port=free_port(),
        otlp_http_port=free_port(),
        spanmetrics_port=free_port(),
        metrics_port=free_port(),
        health_port=free_port(),
        zipkin_endpoint=f"http://127.0.0.1:{zipkin_port}/api/v2/spans",
        sampling_percentage=100.0,
        decision_wait_seconds=1.0,
        tls_cert_file=bench.cert_file,
        tls_key_file=bench.key_file,
        tls_ca_file=bench.ca_file,
        token_file=bench.token_file,
        queue_directory=queue,
    )


class Collector:
    """The Collector as a child process that the test stops and starts again."""

    def __init__(self, bench: Bench, settings: CollectorSettings) -> None:
        self.program = collector_program(bench.paths, settings, binary=bench.binary)
        self.settings = settings
        self.log = bench.paths.logs / f"otelcol-{settings.otlp_grpc_port}.log"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        with self.log.open("ab") as output:
            self.process = subprocess.Popen(
                self.program.command,
                env={**os.environ, **self.program.environment},
                stdout=output,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
            )
        assert self.program.ready_url is not None
        wait_for_health(self.program.ready_url, self.process, self.log, 60.0)

    def stop(self) -> None:
        """SIGTERM, as the supervisor does: the Collector drains and closes its queue file."""
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=30)

    def metric(self, name: str) -> float:
        """A metric of this incarnation (counters restart at 0), with or without `_total`."""
        url = f"http://127.0.0.1:{self.settings.metrics_port}/metrics"
        text = httpx.get(url, timeout=5).text
        return prometheus_values(text, name) + prometheus_values(text, f"{name}_total")


@contextlib.contextmanager
def collector(bench: Bench, settings: CollectorSettings) -> Iterator[Collector]:
    running = Collector(bench, settings)
    running.start()
    try:
        yield running
    finally:
        running.stop()


def _wait_for_spans(zipkin_url: str, load: Load) -> dict[str, set[str]]:
    deadline = time.monotonic() + STORE_DEADLINE
    found: dict[str, set[str]] = {}
    while time.monotonic() < deadline:
        found = zipkin_span_ids(zipkin_url, load.service, load.traces * 2)
        if sum(len(ids) for ids in found.values()) >= load.spans:
            return found
        time.sleep(0.5)
    return found


def test_a_collector_restarted_under_load_loses_no_span(bench: Bench) -> None:
    load = Load(traces=600, spans_per_second=1000, service=f"restart-{secrets.token_hex(3)}")
    zipkin_port = free_port()
    queue = bench.paths.state / "queue-under-load"
    with (
        running_zipkin(bench.paths, "mem", port=zipkin_port) as zipkin_url,
        collector(bench, _settings(bench, zipkin_port, queue)) as running,
    ):
        command = telemetrygen_command(
            bench.generator,
            f"127.0.0.1:{running.settings.otlp_grpc_port}",
            bench.ca_file,
            bench.token_file,
            load,
        )
        generator = threading.Thread(
            target=run_generator, args=(command, bench.paths.logs / "telemetrygen.log", 120.0)
        )
        generator.start()
        # A third of the load is through (6 s in all) when the Collector goes down.
        deadline = time.monotonic() + 30
        while running.metric("otelcol_receiver_accepted_spans") < load.spans / 3:
            assert time.monotonic() < deadline, "the Collector accepted too little"
            time.sleep(0.1)
        running.stop()
        running.start()
        generator.join(timeout=150)
        assert not generator.is_alive()

        stored = _wait_for_spans(zipkin_url, load)

    assert len(stored) == load.traces
    assert sum(len(ids) for ids in stored.values()) == load.spans


def test_spans_queued_while_zipkin_is_down_survive_a_collector_restart(bench: Bench) -> None:
    load = Load(traces=1000, spans_per_second=2500, service=f"queued-{secrets.token_hex(3)}")
    zipkin_port = free_port()  # nothing listens there until after the restart
    settings = _settings(bench, zipkin_port, bench.paths.state / "queue-zipkin-down")
    running = Collector(bench, settings)
    running.start()
    try:
        run_generator(
            telemetrygen_command(
                bench.generator,
                f"127.0.0.1:{settings.otlp_grpc_port}",
                bench.ca_file,
                bench.token_file,
                load,
            ),
            bench.paths.logs / "telemetrygen.log",
            60.0,
        )
        deadline = time.monotonic() + 30
        while running.metric("otelcol_exporter_queue_size") == 0:
            assert time.monotonic() < deadline, "nothing ever waited in the sending queue"
            time.sleep(0.1)
        assert running.metric("otelcol_receiver_accepted_spans") == load.spans
        assert running.metric("otelcol_exporter_sent_spans") == 0
        running.stop()
        running.start()
        with running_zipkin(bench.paths, "mem", port=zipkin_port) as zipkin_url:
            stored = _wait_for_spans(zipkin_url, load)
    finally:
        running.stop()

    assert sum(len(ids) for ids in stored.values()) == load.spans
