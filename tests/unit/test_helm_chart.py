"""The Helm chart (deploy/helm/alexandrite) lints, renders and is valid Kubernetes, offline.

No cluster runs here: `helm lint --strict` and `helm template` (helm built from Go modules by
alexandrite.ops.helm_build) for three value sets, every rendered object checked against the
Kubernetes API schemas bundled in `kubernetes-validate`, and the rendered Collector, Prometheus and
Alertmanager configurations checked by their own tools and against deploy/ (which they reuse).
"""

from __future__ import annotations

import base64
import json
import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml
from kubernetes_validate.utils import ValidationError

from alexandrite.common import platform
from alexandrite.ops.alert_thresholds import render_thresholds
from alexandrite.ops.collector_build import collector_binary_path
from alexandrite.ops.helm_build import ensure_helm_binary
from alexandrite.ops.paths import DEPLOY_DIR, Paths
from alexandrite.ops.zipkin import ensure_zipkin_jar
from alexandrite.ops.zipkin.schema import zipkin_mysql_schema

CHART = DEPLOY_DIR / "helm" / "alexandrite"
# The chart's containers listen on the platform spec's default ports.
OTLP_GRPC = platform.COLLECTOR.listeners["otlp-grpc"]
KUBE_VERSION = "1.33.0"
RELEASE, NAMESPACE = "alx", "orders"
VALUE_SETS = {
    "defaults": [],
    "external": [CHART / "ci" / "external-values.yaml"],
    "small": [CHART / "ci" / "small-values.yaml"],
}
Manifest = dict[str, Any]


@pytest.fixture(scope="module")
def helm() -> Path:
    return ensure_helm_binary(Paths.from_env().ensure())


def _helm(helm: Path, *arguments: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(helm), *arguments], capture_output=True, text=True, timeout=120, check=False
    )


def _render(helm: Path, values: list[Path], *extra: str) -> list[Manifest]:
    arguments = ["template", RELEASE, str(CHART), "-n", NAMESPACE, "--kube-version", KUBE_VERSION]
    for file in values:
        arguments += ["-f", str(file)]
    result = _helm(helm, *arguments, *extra)
    assert result.returncode == 0, result.stderr
    return [doc for doc in yaml.safe_load_all(result.stdout) if doc]


@pytest.fixture(scope="module")
def rendered(helm: Path) -> dict[str, list[Manifest]]:
    return {name: _render(helm, values) for name, values in VALUE_SETS.items()}


def _find(manifests: list[Manifest], kind: str, name: str) -> Manifest:
    found = [m for m in manifests if m["kind"] == kind and m["metadata"]["name"] == name]
    assert len(found) == 1, f"{kind}/{name}: {len(found)} found"
    return found[0]


def _config_map_file(manifests: list[Manifest], name: str, key: str) -> Any:
    return yaml.safe_load(_find(manifests, "ConfigMap", name)["data"][key])


@pytest.mark.parametrize("value_set", sorted(VALUE_SETS))
def test_the_chart_lints_strictly_with_each_value_set(helm: Path, value_set: str) -> None:
    arguments = ["lint", "--strict", str(CHART)]
    for file in VALUE_SETS[value_set]:
        arguments += ["-f", str(file)]
    result = _helm(helm, *arguments)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 chart(s) failed" in result.stdout


@pytest.mark.parametrize("value_set", sorted(VALUE_SETS))
def test_every_rendered_object_is_valid_against_the_kubernetes_api_schemas(
    rendered: dict[str, list[Manifest]], value_set: str
) -> None:
    manifests = rendered[value_set]
    assert len(manifests) > 20
    problems = []
    for manifest in manifests:
        try:
            kubernetes_validate.validate(manifest, KUBE_VERSION, strict=True)
        except ValidationError as exc:
            problems.append(f"{manifest['kind']}/{manifest['metadata']['name']}: {exc}")
    assert problems == []


def test_the_schema_validator_rejects_a_misspelt_field_so_the_check_above_can_fail() -> None:
    broken = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "x"},
        "spec": {"replica": 2, "selector": {"matchLabels": {"a": "b"}}, "template": {}},
    }
    with pytest.raises(ValidationError):
        kubernetes_validate.validate(broken, KUBE_VERSION, strict=True)


@pytest.mark.parametrize(
    ("setting", "message"),
    [
        ("rabbitmq.replicas=2", "/rabbitmq/replicas"),
        ("zipkin.storage=cassandra", "/zipkin/storage"),
        ("prometheus.alertProfile=staging", "/prometheus/alertProfile"),
        ("services.shop.replicaz=2", "replicaz"),
    ],
)
def test_values_outside_the_schema_are_refused_before_rendering(
    helm: Path, setting: str, message: str
) -> None:
    result = _helm(
        helm, "template", RELEASE, str(CHART), "--kube-version", KUBE_VERSION, "--set", setting
    )
    assert result.returncode != 0
    assert message in result.stderr


def test_the_defaults_render_every_service_and_the_collector_in_two_tiers(
    rendered: dict[str, list[Manifest]],
) -> None:
    manifests = rendered["defaults"]
    for service in ("shop", "crm", "mes", "files", "gateway", "notifier"):
        deployment = _find(manifests, "Deployment", f"{RELEASE}-{service}")
        container = deployment["spec"]["template"]["spec"]["containers"][0]
        assert container["args"] == ["python", "-m", f"alexandrite.{service}"]
        assert container["securityContext"]["runAsNonRoot"] is True
        _find(manifests, "Service", f"{RELEASE}-{service}")
    agent = _find(manifests, "DaemonSet", f"{RELEASE}-collector-agent")
    assert agent["spec"]["template"]["spec"]["containers"][0]["args"] == [
        "--config=/etc/otelcol/agent.yaml",
        "--config=/etc/otelcol/pod.yaml",
    ]
    gateway = _find(manifests, "StatefulSet", f"{RELEASE}-collector-gateway")
    headless = _find(manifests, "Service", gateway["spec"]["serviceName"])
    assert headless["spec"]["clusterIP"] == "None"
    env = {
        e["name"]: e.get("value") for e in agent["spec"]["template"]["spec"]["containers"][0]["env"]
    }
    # The agents' static resolver names every gateway pod by its stable StatefulSet name.
    pods = [
        f"{RELEASE}-collector-gateway-{i}.{headless['metadata']['name']}.{NAMESPACE}.svc:{OTLP_GRPC}"
        for i in range(gateway["spec"]["replicas"])
    ]
    assert yaml.safe_load(env["ALEXANDRITE_OTELCOL_GATEWAYS"]) == pods
    assert [t["metadata"]["name"] for t in gateway["spec"]["volumeClaimTemplates"]] == ["queue"]


def test_each_collector_tier_runs_the_files_of_deploy_otelcol_unchanged_plus_a_pod_override(
    rendered: dict[str, list[Manifest]],
) -> None:
    tiers = {"agent": ["agent.yaml"], "gateway": ["config.yaml", "gateway.yaml"]}
    for tier, files in tiers.items():
        data = _find(rendered["defaults"], "ConfigMap", f"{RELEASE}-collector-{tier}")["data"]
        assert sorted(data) == sorted([*files, "pod.yaml"])
        for name in files:
            assert data[name] == (DEPLOY_DIR / "otelcol" / name).read_text()
        override = yaml.safe_load(data["pod.yaml"])
        assert (
            override["extensions"]["health_check"]["endpoint"]
            == f"${{env:POD_IP}}:{platform.COLLECTOR.default_port}"
        )
        assert "127.0.0.1" not in json.dumps(override)


@pytest.mark.parametrize("tier", ["agent", "gateway"])
def test_our_collector_build_accepts_the_configuration_of_each_tier(
    rendered: dict[str, list[Manifest]], tmp_path: Path, tier: str
) -> None:
    binary = collector_binary_path(Paths.from_env())
    if not binary.exists():
        pytest.fail(f"the Collector is not built ({binary}): run alexandrite up", pytrace=False)
    config_map = _find(rendered["defaults"], "ConfigMap", f"{RELEASE}-collector-{tier}")
    pod = _find(
        rendered["defaults"],
        "DaemonSet" if tier == "agent" else "StatefulSet",
        f"{RELEASE}-collector-{tier}",
    )
    arguments = []
    for argument in pod["spec"]["template"]["spec"]["containers"][0]["args"]:
        name = argument.removeprefix("--config=/etc/otelcol/")
        (tmp_path / name).write_text(config_map["data"][name])
        arguments.append(f"--config={tmp_path / name}")
    token = tmp_path / "token"
    token.write_text("t")
    environment = {
        "PATH": "/usr/bin:/bin",
        "POD_IP": "10.0.0.7",
        "ALEXANDRITE_OTELCOL_LISTEN_ADDRESS": "10.0.0.7",
        "ALEXANDRITE_OTELCOL_GATEWAYS": f"[alx-collector-gateway-0.x.svc:{OTLP_GRPC}]",
        "ALEXANDRITE_OTELCOL_QUEUE_DIR": str(tmp_path / "queue"),
        "ALEXANDRITE_OTELCOL_TOKEN_FILE": str(token),
        "ALEXANDRITE_OTELCOL_TLS_CERT_FILE": "/etc/alexandrite/tls/tls.crt",
        "ALEXANDRITE_OTELCOL_TLS_KEY_FILE": "/etc/alexandrite/tls/tls.key",
        "ALEXANDRITE_OTELCOL_TLS_CA_FILE": "/etc/alexandrite/tls/ca.crt",
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


def test_rabbitmq_forms_a_three_node_cluster_that_pauses_a_minority(
    rendered: dict[str, list[Manifest]],
) -> None:
    manifests = rendered["defaults"]
    nodes = _find(manifests, "StatefulSet", f"{RELEASE}-rabbitmq")
    assert nodes["spec"]["replicas"] == 3
    config = _find(manifests, "ConfigMap", f"{RELEASE}-rabbitmq-config")["data"]["rabbitmq.conf"]
    assert "cluster_partition_handling = pause_minority" in config
    assert "rabbit_peer_discovery_k8s" in config
    shop = _find(manifests, "Deployment", f"{RELEASE}-shop")["spec"]["template"]["spec"]
    env = {e["name"]: e.get("value") for e in shop["containers"][0]["env"]}
    assert env["SHOP_QUEUE_TYPE"] == "quorum"
    broker = f"{RELEASE}-rabbitmq:{platform.RABBITMQ.default_port}"
    assert env["SHOP_AMQP_URL"] == f"amqp://alexandrite:$(AMQP_PASSWORD)@{broker}/"


def test_prometheus_gets_every_rule_file_of_deploy_unchanged_and_the_thresholds_of_its_profile(
    rendered: dict[str, list[Manifest]],
) -> None:
    for value_set, profile in (("defaults", "production"), ("external", "test")):
        rules = _find(rendered[value_set], "ConfigMap", f"{RELEASE}-prometheus-rules")["data"]
        files = sorted((DEPLOY_DIR / "prometheus" / "rules").glob("*.yml"))
        assert sorted(rules) == sorted([f.name for f in files] + ["thresholds.yml"])
        for file in files:
            assert rules[file.name] == file.read_text()
        chart_groups = yaml.safe_load(rules["thresholds.yml"])["groups"]
        local_groups = yaml.safe_load(render_thresholds(profile))["groups"]
        assert [g["name"] for g in chart_groups] == [g["name"] for g in local_groups]
        # Helm walks maps in key order, Python in file order: the same rules, maybe reordered.
        assert sorted(json.dumps(r, sort_keys=True) for r in chart_groups[0]["rules"]) == sorted(
            json.dumps(r, sort_keys=True) for r in local_groups[0]["rules"]
        )


def test_the_rendered_prometheus_and_alertmanager_configurations_pass_their_own_checkers(
    rendered: dict[str, list[Manifest]], tmp_path: Path
) -> None:
    for tool in ("promtool", "amtool"):
        if shutil.which(tool) is None:
            pytest.fail(f"{tool} is missing: apt-get install prometheus prometheus-alertmanager")
    manifests = rendered["defaults"]
    rules_dir = tmp_path / "rules"
    rules_dir.mkdir()
    for name, text in _find(manifests, "ConfigMap", f"{RELEASE}-prometheus-rules")["data"].items():
        (rules_dir / name).write_text(text)
    prometheus = _config_map_file(manifests, f"{RELEASE}-prometheus", "prometheus.yml")
    assert prometheus["rule_files"] == ["/etc/prometheus/rules/*.yml"]
    prometheus["rule_files"] = [f"{rules_dir}/*.yml"]
    # Debian's Prometheus is built without Kubernetes discovery: check everything else (rules,
    # relabelling, parameters) with each job's discovery swapped for a static target.
    for job in prometheus["scrape_configs"]:
        assert job.pop("kubernetes_sd_configs")[0]["role"] == "pod"
        job["static_configs"] = [{"targets": ["10.0.0.7:80"]}]
    (tmp_path / "prometheus.yml").write_text(yaml.safe_dump(prometheus))
    checked = subprocess.run(
        ["promtool", "check", "config", str(tmp_path / "prometheus.yml")],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr
    local = yaml.safe_load((DEPLOY_DIR / "prometheus" / "prometheus.yml").read_text())
    jobs = [job["job_name"] for job in prometheus["scrape_configs"]]
    assert jobs == [job["job_name"] for job in local["scrape_configs"]]
    alertmanager = _find(manifests, "ConfigMap", f"{RELEASE}-alertmanager")["data"][
        "alertmanager.yml"
    ]
    (tmp_path / "alertmanager.yml").write_text(alertmanager)
    checked = subprocess.run(
        ["amtool", "check-config", str(tmp_path / "alertmanager.yml")],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr


def test_alerts_take_the_local_routes_and_reach_the_notifier_service(
    rendered: dict[str, list[Manifest]],
) -> None:
    local = yaml.safe_load((DEPLOY_DIR / "alertmanager" / "alertmanager.yml").read_text())
    chart = _config_map_file(rendered["defaults"], f"{RELEASE}-alertmanager", "alertmanager.yml")
    assert chart["route"] == local["route"]
    assert chart["inhibit_rules"] == local["inhibit_rules"]
    urls = [hook["url"] for r in chart["receivers"] for hook in r.get("webhook_configs", [])]
    notifier = f"{RELEASE}-notifier:{platform.NOTIFIER.default_port}"
    assert urls == [f"http://{notifier}/api/v1/alertmanager"]


def test_passwords_given_as_values_appear_only_in_the_secret(helm: Path) -> None:
    password = "Qx7-not-in-any-configmap-9Lm"
    manifests = _render(helm, [], "--set", f"secrets.databasePassword={password}")
    holders = [
        f"{m['kind']}/{m['metadata']['name']}" for m in manifests if password in json.dumps(m)
    ]
    assert holders == []  # base64 in the Secret, never in clear text
    secret = _find(manifests, "Secret", f"{RELEASE}-secrets")
    assert base64.b64decode(secret["data"]["database-password"]).decode() == password


def test_the_vendored_zipkin_schema_equals_the_one_in_the_zipkin_jar() -> None:
    vendored = (CHART / "files" / "zipkin" / "mysql.sql").read_text()
    jar_schema = zipkin_mysql_schema(ensure_zipkin_jar(Paths.from_env().ensure()))
    assert vendored.endswith(jar_schema)
    header = vendored[: len(vendored) - len(jar_schema)]
    assert all(line.startswith("--") for line in header.splitlines())


def test_every_port_the_chart_renders_comes_from_its_values(helm: Path, tmp_path: Path) -> None:
    # Every port of values.yaml moved by 20000 (above them all, so none lands on another's
    # default): not one default may remain in what is rendered, but in deploy/'s files embedded
    # unchanged (their `:-N` fallbacks are overridden by the chart's ALEXANDRITE_OTELCOL_*_PORT)
    # and the Secrets (random).
    values = yaml.safe_load((CHART / "values.yaml").read_text())

    def moved(ports: Any) -> Any:
        if isinstance(ports, dict):
            return {name: moved(port) for name, port in ports.items()}
        return ports + 20000

    override = {
        "ports": moved(values["ports"]),
        "services": {name: {"port": s["port"] + 20000} for name, s in values["services"].items()},
    }
    (tmp_path / "moved.yaml").write_text(yaml.safe_dump(override))
    manifests = _render(helm, [tmp_path / "moved.yaml"])
    embedded = {
        (Path(folder) / name).read_text()
        for folder, _, names in os.walk(CHART / "files", followlinks=True)
        for name in names
    }
    for manifest in manifests:
        if manifest["kind"] == "ConfigMap":
            manifest["data"] = {k: v for k, v in manifest["data"].items() if v not in embedded}
    rendered = yaml.safe_dump_all([m for m in manifests if m["kind"] != "Secret"])
    numbers = {int(n) for n in re.findall(r"(?<![\w.])(\d{4,5})(?![\w.])", rendered)}
    assert sorted(numbers & _ports_in(values)) == []
    assert _ports_in(override) <= numbers


def _ports_in(values: dict[str, Any]) -> set[int]:
    """Every port number of a values tree's `ports` and `services.<name>.port`."""

    def numbers(ports: Any) -> set[int]:
        if isinstance(ports, dict):
            return {n for port in ports.values() for n in numbers(port)}
        return {ports}

    return numbers(values["ports"]) | {s["port"] for s in values["services"].values()}
