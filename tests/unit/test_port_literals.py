"""A port is written once: in the platform spec (alexandrite/common/platform.py).

Code in alexandrite/, bench/ and tests/ names no known port as a number or inside a string
(prose in docstrings and comments is not a definition). The static server configurations that
cannot read the spec (deploy/: the local servers' files, the Collector's fallbacks) keep their own
numbers, and the tests here check each against the spec's defaults. The Helm chart writes each
port once, in its values (`services.<name>.port`, `ports`), and its templates read them; the
Compose files keep literals (Compose interpolates only variables, and HAProxy's and the
Collector's files are read by those servers), each checked against the spec.
"""

from __future__ import annotations

import ast
import re
from collections import Counter
from pathlib import Path

import yaml

from alexandrite.common import platform
from alexandrite.common.paths import DEPLOY_DIR, REPO_ROOT

SPEC = Path(platform.__file__)
SCANNED = ("alexandrite", "bench", "tests")
# Every port the spec knows, with the listener it belongs to.
KNOWN_PORTS: dict[int, str] = {
    port: label
    for process in (*platform.PROCESSES, platform.OPENSEARCH)
    for label, port in {
        process.name: process.default_port,
        **{f"{process.name} {name}": port for name, port in process.listeners.items()},
    }.items()
}


def _docstrings(tree: ast.AST) -> set[int]:
    """ids of the string constants that stand alone as statements (docstrings, prose)."""
    return {
        id(node.value)
        for node in ast.walk(tree)
        if isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant)
    }


def port_literals(source: str, name: str = "<source>") -> list[str]:
    """Each place in ``source`` that writes a known port: "line: 5432 (postgresql)"."""
    tree = ast.parse(source, name)
    prose = _docstrings(tree)
    found: list[tuple[int, str]] = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.Constant) or id(node) in prose:
            continue
        value = node.value
        if isinstance(value, int) and not isinstance(value, bool) and value in KNOWN_PORTS:
            found.append((node.lineno, f"{value} ({KNOWN_PORTS[value]})"))
        elif isinstance(value, str):
            # Only as a port: after a colon or standing alone, not inside a longer number.
            for match in re.finditer(r"(?:(?<=:)|^)(\d{4,5})(?!\d)", value):
                port = int(match.group(1))
                if port in KNOWN_PORTS:
                    found.append((node.lineno, f"{port} in a string ({KNOWN_PORTS[port]})"))
    return [f"{line}: {what}" for line, what in sorted(found)]


def test_no_code_outside_the_platform_spec_writes_a_known_port() -> None:
    offenders = [
        f"{path.relative_to(REPO_ROOT)}:{where}"
        for top in SCANNED
        for path in sorted((REPO_ROOT / top).rglob("*.py"))
        if path not in (SPEC, Path(__file__)) and ".venv" not in path.parts
        for where in port_literals(path.read_text(), str(path))
    ]
    assert offenders == []


def test_the_check_sees_a_port_as_a_number_an_address_or_a_url_but_not_in_prose() -> None:
    source = (
        '"""Listens on 127.0.0.1:5432."""\n'
        "PORT = 9411\n"
        'URL = f"http://{HOST}:4317/v1"\n'
        'ADDRESS = "127.0.0.1:15672"\n'
        'ARGUMENT = ["-P", "3306"]\n'
        "SIZE = 94110  # not a port we know\n"
        'ORDER = "order-9411-a"\n'
    )
    assert port_literals(source) == [
        "2: 9411 (zipkin)",
        "3: 4317 in a string (otelcol otlp-grpc)",
        "4: 15672 in a string (rabbitmq management)",
        "5: 3306 in a string (mariadb)",
    ]


def _ports_after(pattern: str, text: str) -> set[int]:
    return {int(port) for port in re.findall(pattern, text)}


def test_the_local_system_servers_files_listen_on_the_specs_ports() -> None:
    postgres = (DEPLOY_DIR / "postgresql" / "alexandrite.conf").read_text()
    assert _ports_after(r"(?m)^port\s*=\s*(\d+)", postgres) == {platform.POSTGRESQL.default_port}
    mariadb = (DEPLOY_DIR / "mariadb" / "alexandrite.cnf").read_text()
    assert _ports_after(r"(?m)^port\s*=\s*(\d+)", mariadb) == {platform.MARIADB.default_port}
    rabbitmq = (DEPLOY_DIR / "rabbitmq" / "rabbitmq.conf").read_text()
    assert _ports_after(r"listeners\.tcp\.default = [\d.]+:(\d+)", rabbitmq) == {
        platform.RABBITMQ.default_port
    }
    assert _ports_after(r"management\.tcp\.port = (\d+)", rabbitmq) == {
        platform.RABBITMQ.listeners["management"]
    }
    assert _ports_after(r"prometheus\.tcp\.port = (\d+)", rabbitmq) == {
        platform.RABBITMQ.listeners["metrics"]
    }
    environment = (DEPLOY_DIR / "rabbitmq" / "rabbitmq-env.conf").read_text()
    assert _ports_after(r"NODE_PORT=(\d+)", environment) == {platform.RABBITMQ.default_port}


def test_the_collector_configs_fall_back_to_the_specs_ports() -> None:
    # config.yaml and agent.yaml read every port from ALEXANDRITE_OTELCOL_<NAME>_PORT (set by
    # alexandrite.ops.collector from the spec); their `:-N` fallbacks must be the same numbers.
    listener_of = {
        "OTLP_GRPC": platform.COLLECTOR.listeners["otlp-grpc"],
        "OTLP_HTTP": platform.COLLECTOR.listeners["otlp-http"],
        "METRICS": platform.COLLECTOR.listeners["metrics"],
        "SPANMETRICS": platform.COLLECTOR.listeners["spanmetrics"],
        "HEALTH": platform.COLLECTOR.default_port,
    }
    seen = set()
    for name in ("config.yaml", "agent.yaml", "gateway.yaml"):
        text = (DEPLOY_DIR / "otelcol" / name).read_text()
        for variable, port in re.findall(r"ALEXANDRITE_OTELCOL_(\w+?)_PORT:-(\d+)", text):
            assert int(port) == listener_of[variable], (name, variable)
            seen.add(variable)
        for port in re.findall(r"ZIPKIN_ENDPOINT:-http://[\d.]+:(\d+)", text):
            assert int(port) == platform.ZIPKIN.default_port
    assert seen == set(listener_of)


def test_the_deploy_prometheus_and_alertmanager_files_name_the_specs_ports() -> None:
    from alexandrite.ops.monitoring import scrape_ports

    prometheus = yaml.safe_load((DEPLOY_DIR / "prometheus" / "prometheus.yml").read_text())
    targets = {
        job["job_name"]: [t for s in job["static_configs"] for t in s["targets"]]
        for job in prometheus["scrape_configs"]
    }
    assert targets == {
        job: [f"{platform.HOST}:{port}"] for job, port in scrape_ports(defaults=True).items()
    }
    alerting = prometheus["alerting"]["alertmanagers"][0]["static_configs"][0]["targets"]
    assert alerting == [f"{platform.HOST}:{platform.ALERTMANAGER.default_port}"]
    alertmanager = yaml.safe_load((DEPLOY_DIR / "alertmanager" / "alertmanager.yml").read_text())
    urls = [h["url"] for r in alertmanager["receivers"] for h in r.get("webhook_configs", [])]
    assert urls == [f"http://{platform.HOST}:{platform.NOTIFIER.default_port}/api/v1/alertmanager"]


def test_the_charts_service_ports_are_the_specs_defaults() -> None:
    values = yaml.safe_load((DEPLOY_DIR / "helm" / "alexandrite" / "values.yaml").read_text())
    chart_ports = {name: service["port"] for name, service in values["services"].items()}
    assert chart_ports == {process.name: process.default_port for process in platform.SERVICES}


CHART = DEPLOY_DIR / "helm" / "alexandrite"
COMPOSE = DEPLOY_DIR / "compose"
# A number standing alone (not a piece of a longer one, a version or a size).
_NUMBER = re.compile(r"(?<![\w.])(\d{4,5})(?![\w.])")


def _without_comment_lines(text: str) -> str:
    """``text`` with its whole-line ``#`` comments blanked (prose, as in code), lines kept."""
    return re.sub(r"(?m)^[ \t]*#.*$", "", text)


def known_port_numbers(text: str) -> list[tuple[int, int]]:
    """(offset, port) of each number in ``text`` that is a port the spec knows."""
    return [
        (match.start(1), int(match.group(1)))
        for match in _NUMBER.finditer(text)
        if int(match.group(1)) in KNOWN_PORTS
    ]


def test_the_number_check_sees_a_port_but_not_a_size_a_version_or_a_longer_number() -> None:
    text = "port: 5432\nurl: http://zipkin:9411/\nmemory: 5432Mi\nv1.5432.0\nid: 443172\n"
    assert [port for _, port in known_port_numbers(text)] == [5432, 9411]


def test_the_charts_ports_are_the_specs_defaults() -> None:
    values = yaml.safe_load((CHART / "values.yaml").read_text())
    chart_ports = {name: service["port"] for name, service in values["services"].items()}
    assert chart_ports == {process.name: process.default_port for process in platform.SERVICES}
    collector, rabbitmq = platform.COLLECTOR, platform.RABBITMQ
    assert values["ports"] == {
        "postgresql": platform.POSTGRESQL.default_port,
        "rabbitmq": {"amqp": rabbitmq.default_port, **rabbitmq.listeners},
        "mariadb": platform.MARIADB.default_port,
        "zipkin": platform.ZIPKIN.default_port,
        "collector": {
            "otlpGrpc": collector.listeners["otlp-grpc"],
            "otlpHttp": collector.listeners["otlp-http"],
            "metrics": collector.listeners["metrics"],
            "spanmetrics": collector.listeners["spanmetrics"],
            "health": collector.default_port,
        },
        "prometheus": platform.PROMETHEUS.default_port,
        "alertmanager": platform.ALERTMANAGER.default_port,
    }


def test_the_charts_values_write_each_known_port_once() -> None:
    # The managed servers' ports (postgresql.external.port, ...) default to empty: `ports`.
    values = _without_comment_lines((CHART / "values.yaml").read_text())
    written = Counter(port for _, port in known_port_numbers(values))
    assert {port: count for port, count in written.items() if count > 1} == {}


def test_no_chart_template_writes_a_known_port() -> None:
    offenders = [
        f"{path.relative_to(CHART)}:{text[:offset].count(chr(10)) + 1}: {port}"
        for path in sorted((CHART / "templates").iterdir())
        for text in [path.read_text()]
        for offset, port in known_port_numbers(text)
    ]
    assert offenders == []


# What each port written in the Compose files belongs to: a pattern whose group is the port
# (a host name not after `<word>/`: `library/postgres:16` is an image, `//postgres:` a URL's).
_HOST = r"(?<![\w.-])(?<!\w/)"
_COMPOSE_PORTS: list[tuple[str, int]] = [
    (_HOST + r"postgres:(\d+)", platform.POSTGRESQL.default_port),
    (_HOST + r"(?:haproxy|rabbitmq-\d+):(\d+)", platform.RABBITMQ.default_port),
    (r"(?m)^\s*bind :(\d+)$", platform.RABBITMQ.default_port),
    (_HOST + r"collector-(?:agent|gateway-\d+):(\d+)", platform.COLLECTOR.listeners["otlp-grpc"]),
    (_HOST + r"zipkin:(\d+)", platform.ZIPKIN.default_port),
    *((_HOST + process.name + r":(\d+)", process.default_port) for process in platform.SERVICES),
    # The gateway, published on loopback: host port and container port.
    (r'"127\.0\.0\.1:(\d+):\d+"', platform.GATEWAY.default_port),
    (r'"127\.0\.0\.1:\d+:(\d+)"', platform.GATEWAY.default_port),
    # The Collector's listeners on the containers' addresses (otelcol-*.yaml).
    (r'health_check: \{endpoint: "0\.0\.0\.0:(\d+)"', platform.COLLECTOR.default_port),
    (r'grpc: \{endpoint: "0\.0\.0\.0:(\d+)"', platform.COLLECTOR.listeners["otlp-grpc"]),
    (r'prometheus: \{endpoint: "0\.0\.0\.0:(\d+)"', platform.COLLECTOR.listeners["spanmetrics"]),
    (r"host: 0\.0\.0\.0, port: (\d+)", platform.COLLECTOR.listeners["metrics"]),
]


def test_every_port_the_compose_files_write_is_the_specs_port_of_what_it_names() -> None:
    checked = 0
    for path in sorted(COMPOSE.iterdir()):
        text = _without_comment_lines(path.read_text())
        seen: dict[int, int] = {}
        for pattern, expected in _COMPOSE_PORTS:
            for match in re.finditer(pattern, text):
                assert int(match.group(1)) == expected, (path.name, match.group(0))
                seen[match.start(1)] = expected
        # Every known port written there is one the patterns above recognised and checked.
        unexplained = [port for offset, port in known_port_numbers(text) if offset not in seen]
        assert unexplained == [], path.name
        checked += len(seen)
    assert checked >= 20  # the patterns still match the files (a renamed host would escape)
