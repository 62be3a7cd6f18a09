"""Collector tiers on hosts made of network namespaces: an agent that routes by trace id to two
gateways (deploy/otelcol/agent.yaml, config.yaml + gateway.yaml), proven with real processes.

Each gateway writes what it would export to Zipkin into a file of its own (a test layer on top
of gateway.yaml replaces the zipkin exporter), so the test sees which gateway got which span.
Needs root: the hosts are `ip netns` namespaces on a private switch, deleted afterwards.
"""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from alexandrite.common import platform
from alexandrite.ops.collector import (
    AGENT_CONFIG,
    COLLECTOR_CONFIG,
    GATEWAY_CONFIG,
    CollectorSettings,
    collector_environment,
    ensure_collector_binary,
)
from alexandrite.ops.paths import Paths
from bench.pipeline import ensure_telemetrygen
from bench.platform import prometheus_values
from tests.support.load import SPANS_PER_TRACE, Load, run_generator, telemetrygen_command
from tests.support.netns import Host, Network

pytestmark = [
    pytest.mark.stores,
    pytest.mark.timeout(10 * 60),
    pytest.mark.skipif(os.geteuid() != 0, reason="network namespaces need root"),
]

# Inside each namespace the Collectors listen on the spec's default ports.
GRPC_PORT = platform.COLLECTOR.listeners["otlp-grpc"]
METRICS_PORT = platform.COLLECTOR.listeners["metrics"]
HEALTH_PORT = platform.COLLECTOR.default_port
DEADLINE = 90.0

# The test's layer on gateway.yaml: what would go to Zipkin goes to a file instead.
_RECEIVED_LAYER = """
exporters:
  file/received:
    path: ${env:ALEXANDRITE_TEST_RECEIVED_FILE}
    flush_interval: 200ms
service:
  pipelines:
    traces/zipkin:
      exporters: [file/received]
"""


def _openssl(*args: str, cwd: Path) -> None:
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True)


def _certificates(directory: Path, addresses: list[str]) -> tuple[Path, Path, Path]:
    """A CA and one server certificate valid for loopback and every host address."""
    directory.mkdir(parents=True, exist_ok=True)
    ec = ("-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes")
    _openssl(
        "req", "-x509", *ec, "-keyout", "ca.key", "-out", "ca.crt", "-days", "1",
        "-subj", "/CN=Alexandrite tier test CA",
        "-addext", "basicConstraints=critical,CA:TRUE",
        "-addext", "keyUsage=critical,keyCertSign,cRLSign",
        cwd=directory,
    )  # fmt: skip
    _openssl(
        "req", *ec, "-keyout", "server.key", "-out", "server.csr", "-subj", "/CN=collector",
        cwd=directory,
    )  # fmt: skip
    names = ",".join(f"IP:{address}" for address in ["127.0.0.1", *addresses])
    (directory / "server.ext").write_text(
        f"subjectAltName={names}\nbasicConstraints=critical,CA:FALSE\n"
        "keyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth,clientAuth\n",
        encoding="utf-8",
    )
    _openssl(
        "x509", "-req", "-in", "server.csr", "-CA", "ca.crt", "-CAkey", "ca.key",
        "-CAcreateserial", "-out", "server.crt", "-days", "1", "-extfile", "server.ext",
        cwd=directory,
    )  # fmt: skip
    return directory / "ca.crt", directory / "server.crt", directory / "server.key"


@dataclass
class Tiers:
    network: Network
    paths: Paths
    agent: Host
    gateways: list[Host]
    received: dict[str, Path]
    generator: Path
    ca_file: Path
    token_file: Path
    runs: list[str] = field(default_factory=list)

    def agent_metric(self, name: str) -> float:
        text = self.network.get(self.agent, f"http://127.0.0.1:{METRICS_PORT}/metrics")
        return prometheus_values(text, name) + prometheus_values(text, f"{name}_total")

    def load_command(self, load: Load) -> list[str]:
        """telemetrygen inside the agent's host, sending to the agent on that host's loopback."""
        return [
            "ip", "netns", "exec", self.agent.namespace,
            *telemetrygen_command(
                self.generator, f"127.0.0.1:{GRPC_PORT}", self.ca_file, self.token_file, load
            ),
        ]  # fmt: skip

    def spans_by_gateway(self, service: str) -> dict[str, dict[str, set[str]]]:
        """Span ids per trace id that each gateway exported, for one generator run."""
        seen: dict[str, dict[str, set[str]]] = {}
        for gateway, path in self.received.items():
            traces: dict[str, set[str]] = {}
            lines = path.read_text(encoding="utf-8").splitlines() if path.exists() else []
            for line in lines:
                for resource in json.loads(line).get("resourceSpans", []):
                    attributes = resource.get("resource", {}).get("attributes", [])
                    names = {a["value"].get("stringValue") for a in attributes}
                    if service not in names:
                        continue
                    for scope in resource.get("scopeSpans", []):
                        for span in scope.get("spans", []):
                            traces.setdefault(span["traceId"], set()).add(span["spanId"])
            seen[gateway] = traces
        return seen


def _wait_health(network: Network, host: Host, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"a Collector in {host.namespace} exited:\n{log.read_text()[-3000:]}")
        if network.get(host, f"http://127.0.0.1:{HEALTH_PORT}/"):
            return
        time.sleep(0.2)
    pytest.fail(f"the Collector in {host.namespace} is not healthy:\n{log.read_text()[-3000:]}")


@pytest.fixture(scope="module")
def tiers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Tiers]:
    state = tmp_path_factory.mktemp("tiers")
    paths = Paths(state=state, cache=Paths.from_env().cache).ensure()
    binary = ensure_collector_binary(paths)
    generator = ensure_telemetrygen(paths)
    token_file = paths.secrets / "otlp-token"
    token_file.write_text(secrets.token_urlsafe(24))
    layer = state / "received-layer.yaml"
    layer.write_text(_RECEIVED_LAYER, encoding="utf-8")
    with Network("tier") as network:
        agent = network.add_host("agent")
        gateways = [network.add_host("gw1"), network.add_host("gw2")]
        ca, cert, key = _certificates(paths.tls, [gw.address for gw in gateways])
        settings = CollectorSettings(
            sampling_percentage=100.0,
            decision_wait_seconds=1.0,
            tls_cert_file=cert,
            tls_key_file=key,
            tls_ca_file=ca,
            token_file=token_file,
        )
        received: dict[str, Path] = {}
        started: list[tuple[Host, subprocess.Popen[bytes], Path]] = []
        for gateway in gateways:
            received[gateway.namespace] = state / f"{gateway.namespace}.jsonl"
            environment = collector_environment(paths, settings) | {
                "ALEXANDRITE_OTELCOL_LISTEN_ADDRESS": gateway.address,
                "ALEXANDRITE_OTELCOL_QUEUE_DIR": str(state / gateway.namespace / "queue"),
                "ALEXANDRITE_TEST_RECEIVED_FILE": str(received[gateway.namespace]),
            }
            log = paths.logs / f"{gateway.namespace}.log"
            command = [
                str(binary),
                f"--config={COLLECTOR_CONFIG}",
                f"--config={GATEWAY_CONFIG}",
                f"--config={layer}",
            ]
            started.append((gateway, network.popen(gateway, command, log, environment), log))
        targets = ", ".join(f"{gw.address}:{GRPC_PORT}" for gw in gateways)
        environment = collector_environment(paths, settings) | {
            "ALEXANDRITE_OTELCOL_GATEWAYS": f"[{targets}]",
            "ALEXANDRITE_OTELCOL_QUEUE_DIR": str(state / "agent" / "queue"),
        }
        log = paths.logs / "agent.log"
        command = [str(binary), f"--config={AGENT_CONFIG}"]
        started.append((agent, network.popen(agent, command, log, environment), log))
        for host, process, log in started:
            _wait_health(network, host, process, log)
        yield Tiers(network, paths, agent, gateways, received, generator, ca, token_file)


def _wait_for(tiers: Tiers, load: Load, expected: int) -> dict[str, dict[str, set[str]]]:
    deadline = time.monotonic() + DEADLINE
    seen = tiers.spans_by_gateway(load.service)
    while time.monotonic() < deadline:
        seen = tiers.spans_by_gateway(load.service)
        if sum(len(ids) for traces in seen.values() for ids in traces.values()) >= expected:
            break
        time.sleep(0.5)
    return seen


def test_every_trace_of_a_thousand_reaches_exactly_one_gateway_whole(tiers: Tiers) -> None:
    load = Load(traces=1000, spans_per_second=2500, service=f"affinity-{secrets.token_hex(3)}")
    run_generator(tiers.load_command(load), tiers.paths.logs / "telemetrygen.log", 120.0)

    seen = _wait_for(tiers, load, load.spans)

    first, second = (seen[gw.namespace] for gw in tiers.gateways)
    assert not set(first) & set(second), "a trace was split between gateways"
    assert len(first) + len(second) == load.traces
    assert all(len(ids) == SPANS_PER_TRACE for ids in [*first.values(), *second.values()])
    # Both gateways share the work (trace ids are random: about half each).
    assert min(len(first), len(second)) > load.traces * 0.3, (len(first), len(second))


def test_a_gateway_cut_under_load_loses_at_most_what_its_queue_cannot_hold(tiers: Tiers) -> None:
    load = Load(traces=1500, spans_per_second=2500, service=f"cut-{secrets.token_hex(3)}")
    survivor, victim = tiers.gateways
    dropped_before = tiers.agent_metric("otelcol_exporter_send_failed_spans") + tiers.agent_metric(
        "otelcol_exporter_enqueue_failed_spans"
    )
    generator = threading.Thread(
        target=run_generator,
        args=(tiers.load_command(load), tiers.paths.logs / "telemetrygen.log", 120.0),
    )
    generator.start()
    deadline = time.monotonic() + 30
    while tiers.agent_metric("otelcol_receiver_accepted_spans") < load.spans * 0.2:
        assert time.monotonic() < deadline
        time.sleep(0.1)
    cut_at = time.monotonic()
    tiers.network.cut(victim)
    # Cut for the middle of the run, then plugged back in.
    while generator.is_alive() and time.monotonic() - cut_at < 3.0:
        time.sleep(0.1)
    during_cut = tiers.spans_by_gateway(load.service)
    tiers.network.restore(victim)
    restored_at = time.monotonic()
    generator.join(timeout=150)
    assert not generator.is_alive()

    seen = _wait_for(tiers, load, load.spans)
    recovered_s = time.monotonic() - restored_at
    dropped = (
        tiers.agent_metric("otelcol_exporter_send_failed_spans")
        + tiers.agent_metric("otelcol_exporter_enqueue_failed_spans")
        - dropped_before
    )
    stored = sum(len(ids) for traces in seen.values() for ids in traces.values())
    broken = sum(
        1 for traces in seen.values() for ids in traces.values() if len(ids) != SPANS_PER_TRACE
    )
    print(
        f"gateway cut 3 s under {load.spans_per_second:g} spans/s: {load.spans - stored} of "
        f"{load.spans} spans lost ({dropped:g} counted as dropped by the agent), {broken} traces "
        f"broken, all stored {recovered_s:.1f} s after the gateway came back"
    )
    # The survivor kept receiving while the other was cut, and the other's share waited.
    assert during_cut[survivor.namespace], "the healthy gateway stalled during the cut"
    assert len(seen[victim.namespace]) > len(during_cut[victim.namespace])
    # Every loss is counted, and the cut gateway's queue (2000 batches) held the whole cut.
    assert load.spans - stored == dropped
    assert stored == load.spans
    assert broken == 0
