"""The Compose file (deploy/compose/compose.yaml) follows the Compose Specification, has the chart's
topology, and the configurations it renders from deploy/ pass their servers' own checkers.

The Compose Specification's JSON schema is the one check-jsonschema (PyPI, pinned) vendors, with
its Apache-2.0 licence (check_jsonschema/builtin_schemas/vendor/licenses/LICENSE.compose-spec).
No container runs here: docs/deploy.md says what that leaves unproven.
"""

from __future__ import annotations

import importlib.resources
import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from alexandrite.common import platform
from alexandrite.ops import compose_config
from alexandrite.ops.collector_build import collector_binary_path
from alexandrite.ops.paths import DEPLOY_DIR, Paths

COMPOSE_DIR = DEPLOY_DIR / "compose"
COMPOSE_FILE = COMPOSE_DIR / "compose.yaml"


def _compose_schema() -> dict[str, Any]:
    vendor = importlib.resources.files("check_jsonschema.builtin_schemas.vendor")
    schema: dict[str, Any] = json.loads((vendor / "compose-spec.json").read_text())
    return schema


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load(COMPOSE_FILE.read_text())
    return loaded


def test_the_compose_file_is_valid_against_the_compose_specification_schema(
    compose: dict[str, Any],
) -> None:
    validator = jsonschema.Draft202012Validator(_compose_schema())
    problems = [f"{list(e.absolute_path)}: {e.message}" for e in validator.iter_errors(compose)]
    assert problems == []


def test_the_compose_schema_rejects_a_misspelt_service_key_so_the_check_above_can_fail() -> None:
    broken = {"services": {"shop": {"image": "x", "enviroment": {"A": "b"}}}}
    assert list(jsonschema.Draft202012Validator(_compose_schema()).iter_errors(broken))


def test_compose_runs_the_charts_topology(compose: dict[str, Any]) -> None:
    services = compose["services"]
    for name in ("shop", "crm", "mes", "files", "gateway", "notifier", "zipkin", "prometheus"):
        assert name in services
    assert {"rabbitmq-1", "rabbitmq-2", "rabbitmq-3", "haproxy", "alertmanager"} <= set(services)
    gateways = [name for name in services if name.startswith("collector-gateway-")]
    assert gateways == compose_config.COLLECTOR_GATEWAYS
    cluster = (COMPOSE_DIR / "rabbitmq-cluster.conf").read_text()
    assert "cluster_partition_handling = pause_minority" in cluster
    for node in ("rabbitmq-1", "rabbitmq-2", "rabbitmq-3"):
        assert f"rabbit@{node}" in cluster
        assert (
            f"server {node} {node}:{platform.RABBITMQ.default_port} check"
            in (COMPOSE_DIR / "haproxy.cfg").read_text()
        )
    for service in ("shop", "crm", "mes", "files", "notifier"):
        environment = services[service]["environment"]
        assert environment["SERVICE"] == service
        assert environment[f"{service.upper()}_QUEUE_TYPE"] == "quorum"


def test_only_the_support_gateway_is_published_and_only_on_loopback(
    compose: dict[str, Any],
) -> None:
    published = {name: s["ports"] for name, s in compose["services"].items() if s.get("ports")}
    gateway = platform.GATEWAY.default_port
    assert published == {"gateway": [f"{platform.HOST}:{gateway}:{gateway}"]}


def test_every_file_the_compose_file_names_exists(compose: dict[str, Any]) -> None:
    named = [c["file"] for c in compose["configs"].values() if "file" in c]
    for service in compose["services"].values():
        named += [v["source"] for v in service.get("volumes", []) if v.get("type") == "bind"]
    assert named
    missing = [path for path in named if not (COMPOSE_DIR / path).exists()]
    assert missing == []


def test_no_credential_is_written_in_the_compose_file(compose: dict[str, Any]) -> None:
    assert "guest:guest" not in COMPOSE_FILE.read_text()
    for name, service in compose["services"].items():
        for key, value in (service.get("environment") or {}).items():
            # A switch, not a credential: the image makes a root password nobody knows.
            if (
                re.search(r"PASS|TOKEN|COOKIE|SECRET", key)
                and key != "MARIADB_RANDOM_ROOT_PASSWORD"
            ):
                assert key.endswith("_FILE"), f"{name}: {key} holds a credential itself"
            assert not re.search(r"://[^/@\s]+:[^/@\s]+@", str(value)), f"{name}: {key}"


@pytest.fixture(scope="module")
def rendered(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("compose-config")
    compose_config.write_all(directory, "test")
    return directory


def test_the_rendered_prometheus_and_alertmanager_configurations_pass_their_checkers(
    rendered: Path,
) -> None:
    for tool in ("promtool", "amtool"):
        if shutil.which(tool) is None:
            pytest.fail(f"{tool} is missing: apt-get install prometheus prometheus-alertmanager")
    prometheus = yaml.safe_load((rendered / "prometheus.yml").read_text())
    # Point the rule files at this copy (in the container they are mounted from deploy/).
    prometheus["rule_files"] = [
        str(DEPLOY_DIR / "prometheus" / "rules" / "*.yml"),
        str(rendered / "thresholds.yml"),
    ]
    (rendered / "prometheus-here.yml").write_text(yaml.safe_dump(prometheus))
    for command in (
        ["promtool", "check", "config", str(rendered / "prometheus-here.yml")],
        ["amtool", "check-config", str(rendered / "alertmanager.yml")],
    ):
        result = subprocess.run(command, capture_output=True, text=True, timeout=60, check=False)
        assert result.returncode == 0, result.stdout + result.stderr
    targets = [
        t for job in prometheus["scrape_configs"] for t in job["static_configs"][0]["targets"]
    ]
    assert not [t for t in targets if t.startswith("127.")]
    alertmanager = yaml.safe_load((rendered / "alertmanager.yml").read_text())
    assert alertmanager["receivers"][0]["webhook_configs"][0]["url"] == (
        f"http://notifier:{platform.NOTIFIER.default_port}/api/v1/alertmanager"
    )


@pytest.mark.parametrize("service", ["collector-agent", "collector-gateway-1"])
def test_our_collector_build_accepts_the_configuration_compose_gives_each_tier(
    compose: dict[str, Any], tmp_path: Path, service: str
) -> None:
    binary = collector_binary_path(Paths.from_env())
    if not binary.exists():
        pytest.fail(f"the Collector is not built ({binary}): run alexandrite up", pytrace=False)
    collector = compose["services"][service]
    here = {
        "/etc/otelcol/deploy/": f"{DEPLOY_DIR / 'otelcol'}/",
        "/etc/otelcol/compose-agent.yaml": str(COMPOSE_DIR / "otelcol-agent.yaml"),
        "/etc/otelcol/compose-gateway.yaml": str(COMPOSE_DIR / "otelcol-gateway.yaml"),
    }
    arguments = []
    for argument in collector["command"]:
        local = argument
        for inside, outside in here.items():
            local = local.replace(inside, outside)
        arguments.append(local)
    token = tmp_path / "token"
    token.write_text("t")
    environment = {
        **collector["environment"],
        "PATH": "/usr/bin:/bin",
        "ALEXANDRITE_OTELCOL_TOKEN_FILE": str(token),
        "ALEXANDRITE_OTELCOL_QUEUE_DIR": str(tmp_path / "queue"),
    }
    result = subprocess.run(
        [str(binary), "validate", *arguments],
        capture_output=True,
        text=True,
        timeout=60,
        env=environment,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_each_service_is_given_only_its_own_database_password(compose: dict[str, Any]) -> None:
    services = compose["services"]
    for name in ("shop", "crm", "mes", "files", "notifier"):
        given = {s for s in services[name]["secrets"] if s.endswith("database-password")}
        assert given == {f"{name}-database-password"}, name
    # The gateway runs as its runtime role: never the audit log's owner, nor the administrator.
    gateway = {s for s in services["gateway"]["secrets"] if s.endswith("database-password")}
    assert gateway == {"gateway-database-password"}
    assert "GATEWAY_OWNER_DATABASE_URL" not in str(services["gateway"])
    # Migrations run as each database's owner, not as PostgreSQL's administrator.
    assert "database-password" not in services["migrate"]["secrets"]
    init = (COMPOSE_DIR / "postgres-init.sh").read_text()
    for name in ("shop", "crm", "mes", "files", "notifier"):
        assert f"{name}-database-password" in services["postgres"]["secrets"]
    assert 'owned_database "alexandrite_${service}" "alexandrite_${service}"' in init
    assert "REVOKE ALL ON DATABASE $1 FROM PUBLIC" in init
