"""The monitoring configuration passes Prometheus's and Alertmanager's own checkers, and every
alert rule's promtool unit test (deploy/prometheus/tests) passes.

promtool and amtool come from Debian's prometheus and prometheus-alertmanager packages
(``alexandrite up`` installs them).
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from alexandrite.common import platform
from alexandrite.ops.alert_thresholds import (
    ALERT_PROFILES,
    THRESHOLD_PREFIX,
    profile_limits,
    render_thresholds,
    stage_rule_tests,
)
from alexandrite.ops.monitoring import (
    ALERTMANAGER_CONFIG,
    PROMETHEUS_CONFIG,
    RULES_DIR,
    MonitoringSettings,
    monitoring_programs,
    render_alertmanager_config,
    render_prometheus_config,
)
from alexandrite.ops.paths import REPO_ROOT, Paths

for _tool in ("promtool", "amtool"):
    if shutil.which(_tool) is None:
        pytest.fail(
            f"{_tool} is missing: apt-get install prometheus prometheus-alertmanager",
            pytrace=False,
        )


def _run(*command: str | Path) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        [str(part) for part in command],
        check=False,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, f"{command}:\n{result.stdout}\n{result.stderr}"
    return result


def _alerts() -> dict[str, dict[str, object]]:
    alerts: dict[str, dict[str, object]] = {}
    for file in sorted(RULES_DIR.glob("*.yml")):
        for group in yaml.safe_load(file.read_text())["groups"]:
            for rule in group["rules"]:
                if "alert" in rule:
                    alerts.setdefault(rule["alert"], rule)
    return alerts


def test_the_deploy_prometheus_config_and_rules_are_valid() -> None:
    _run("promtool", "check", "config", PROMETHEUS_CONFIG)
    _run("promtool", "check", "rules", *sorted(RULES_DIR.glob("*.yml")))


@pytest.mark.parametrize("profile", ALERT_PROFILES)
def test_the_rendered_config_of_each_profile_is_valid(profile: str, tmp_path: Path) -> None:
    paths = Paths(state=tmp_path, cache=tmp_path / "cache")
    config = render_prometheus_config(paths, MonitoringSettings(alert_profile=profile))
    output = _run("promtool", "check", "config", config).stdout
    assert "7 rule files found" in output
    _run("promtool", "check", "rules", config.parent / "thresholds.yml")


def test_the_alertmanager_config_is_valid_also_with_another_notifier_port(
    tmp_path: Path,
) -> None:
    _run("amtool", "check-config", ALERTMANAGER_CONFIG)
    paths = Paths(state=tmp_path, cache=tmp_path / "cache")
    moved = render_alertmanager_config(paths, MonitoringSettings(notifier_port=18005))
    _run("amtool", "check-config", moved)
    assert "http://127.0.0.1:18005/api/v1/alertmanager" in moved.read_text()


def test_every_alert_rule_passes_its_promtool_unit_tests(tmp_path: Path) -> None:
    tests = stage_rule_tests(tmp_path)
    output = _run("promtool", "test", "rules", *tests).stdout
    assert output.count("SUCCESS") == len(tests)


def test_every_alert_has_a_unit_test_that_fires_it() -> None:
    tested = set()
    for file in (RULES_DIR.parent / "tests").glob("*.yml"):
        for case in yaml.safe_load(file.read_text())["tests"]:
            for check in case.get("alert_rule_test", []):
                if check.get("exp_alerts"):
                    tested.add(check["alertname"])
    assert set(_alerts()) == tested


def test_every_alert_has_severity_service_summary_and_an_existing_runbook() -> None:
    for name, rule in _alerts().items():
        labels = rule.get("labels", {})
        assert isinstance(labels, dict)
        # OrderStuck takes its severity from the threshold series, the others name it.
        assert labels.get("severity") in {"page", "ticket"} or name == "OrderStuck", name
        annotations = rule["annotations"]
        assert isinstance(annotations, dict)
        assert {"summary", "description", "runbook_url"} <= set(annotations), name
        assert annotations["runbook_url"] == f"docs/runbooks/{name}.md"
        assert (REPO_ROOT / str(annotations["runbook_url"])).is_file(), name


def test_the_test_profile_only_shortens_limits() -> None:
    production, test = profile_limits("production"), profile_limits("test")
    assert set(test) == set(production)
    assert set(test["order_stuck"]) == set(production["order_stuck"])
    for status, limit in test["order_stuck"].items():
        assert limit["seconds"] == 30
        assert limit["severity"] == production["order_stuck"][status]["severity"]
    assert "created" not in production["order_stuck"]


def test_thresholds_render_as_recording_rules_with_the_status_labels() -> None:
    rules = yaml.safe_load(render_thresholds("test"))["groups"][0]["rules"]
    approved = [r for r in rules if r.get("labels", {}).get("status") == "approved"]
    assert approved == [
        {
            "record": f"{THRESHOLD_PREFIX}order_stuck_seconds",
            "expr": "vector(30)",
            "labels": {"status": "approved", "severity": "page"},
        }
    ]


def test_the_programs_bind_loopback_and_keep_state_under_the_state_dir(tmp_path: Path) -> None:
    paths = Paths(state=tmp_path, cache=tmp_path / "cache")
    programs = {p.name: p for p in monitoring_programs(paths)}
    assert set(programs) == {"notifier", "alertmanager", "prometheus"}
    prometheus = " ".join(programs["prometheus"].command)
    assert f"--web.listen-address={platform.HOST}:{platform.PROMETHEUS.port}" in prometheus
    assert f"--storage.tsdb.path={tmp_path / 'prometheus'}" in prometheus
    alertmanager = programs["alertmanager"].command
    assert f"--web.listen-address={platform.HOST}:{platform.ALERTMANAGER.port}" in alertmanager
    assert "--cluster.listen-address=" in alertmanager
    assert f"--storage.path={tmp_path / 'alertmanager'}" in alertmanager
    assert programs["prometheus"].ready_url == platform.PROMETHEUS.ready_url
    assert programs["alertmanager"].ready_url == platform.ALERTMANAGER.ready_url
    assert programs["notifier"].ready_url == platform.NOTIFIER.ready_url
