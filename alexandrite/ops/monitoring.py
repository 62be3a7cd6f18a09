"""Prometheus, Alertmanager and the notifier as supervised programs.

Configuration lives in deploy/prometheus and deploy/alertmanager as plain files. What differs
per run is given on the command line (storage paths, listen addresses); the only rendered file
is Prometheus's config copy in <state>/run/prometheus/, which points at the rules in deploy/,
at the thresholds of the chosen alert profile (alexandrite.ops.alert_thresholds) and at every
target's port from the platform spec (alexandrite.common.platform; the deploy file's own
addresses are its defaults, checked against the spec by tests/unit/test_port_literals.py):

    monitoring_programs(paths)                                        # local mode, production
    monitoring_programs(paths, MonitoringSettings(alert_profile="test"))  # 30 s order limits

Alertmanager runs on the deploy file as is unless the notifier's port differs from its default.

    python -m alexandrite.ops.monitoring render [--alert-profile test]   # print the paths
    python -m alexandrite.ops.monitoring test-rules     # promtool unit tests of every alert
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from alexandrite.common import platform
from alexandrite.ops.alert_thresholds import ALERT_PROFILES, stage_rule_tests, write_thresholds
from alexandrite.ops.paths import DEPLOY_DIR, REPO_ROOT, Paths
from alexandrite.ops.program import Program

__all__ = [
    "ALERTMANAGER_CONFIG",
    "PROMETHEUS_CONFIG",
    "RULES_DIR",
    "SCRAPE_JOBS",
    "MonitoringSettings",
    "alertmanager_program",
    "monitoring_programs",
    "notifier_program",
    "prometheus_program",
    "render_alertmanager_config",
    "render_prometheus_config",
    "scrape_ports",
]

PROMETHEUS_CONFIG = DEPLOY_DIR / "prometheus" / "prometheus.yml"
RULES_DIR = DEPLOY_DIR / "prometheus" / "rules"
ALERTMANAGER_CONFIG = DEPLOY_DIR / "alertmanager" / "alertmanager.yml"
_WEBHOOK_PATH = "/api/v1/alertmanager"


# Each scrape job of prometheus.yml: the process it scrapes and which of its listeners.
SCRAPE_JOBS: dict[str, tuple[platform.Process, str | None]] = {
    **{s.name: (s, None) for s in platform.SERVICES if s is not platform.GATEWAY},
    "otelcol": (platform.COLLECTOR, "metrics"),
    "spanmetrics": (platform.COLLECTOR, "spanmetrics"),
    "rabbitmq": (platform.RABBITMQ, "metrics"),
    "zipkin": (platform.ZIPKIN, None),
    "prometheus": (platform.PROMETHEUS, None),
    "alertmanager": (platform.ALERTMANAGER, None),
}


def scrape_ports(*, defaults: bool = False) -> dict[str, int]:
    """Each scrape job and the port it scrapes, from the platform spec: the ports of this run
    (overrides applied), or with ``defaults`` the spec's own (what containers listen on)."""
    ports = {}
    for job, (process, listener) in SCRAPE_JOBS.items():
        if listener is None:
            ports[job] = process.default_port if defaults else process.port
        else:
            ports[job] = process.listeners[listener] if defaults else process.port_of(listener)
    return ports


@dataclass(frozen=True)
class MonitoringSettings:
    """Per-run values; the defaults are local mode (DESIGN.md §7)."""

    alert_profile: str = "production"
    prometheus_port: int = field(default_factory=lambda: platform.PROMETHEUS.port)
    alertmanager_port: int = field(default_factory=lambda: platform.ALERTMANAGER.port)
    notifier_port: int = field(default_factory=lambda: platform.NOTIFIER.port)
    retention: str = "15d"
    # None: <state>/prometheus and <state>/alertmanager.
    prometheus_storage: Path | None = None
    alertmanager_storage: Path | None = None


def _set_target(config: dict[str, Any], job: str, target: str) -> None:
    for scrape in config["scrape_configs"]:
        if scrape["job_name"] == job:
            for static in scrape["static_configs"]:
                static["targets"] = [target]


def render_prometheus_config(
    paths: Paths,
    settings: MonitoringSettings,
    directory: Path | None = None,
    targets: Mapping[str, str] | None = None,
) -> Path:
    """Write the run's Prometheus config and thresholds into ``directory``; return the config.

    ``targets`` moves scrape jobs elsewhere (job name -> host:port), e.g. for tests that run
    the services on free ports.
    """
    directory = directory or paths.run / "prometheus"
    directory.mkdir(parents=True, exist_ok=True)
    thresholds = write_thresholds(directory / "thresholds.yml", settings.alert_profile)
    config: dict[str, Any] = yaml.safe_load(PROMETHEUS_CONFIG.read_text())
    config["rule_files"] = [str(RULES_DIR / "*.yml"), str(thresholds)]
    config["global"]["external_labels"]["alert_profile"] = settings.alert_profile
    ports = {
        **scrape_ports(),
        "alertmanager": settings.alertmanager_port,
        "prometheus": settings.prometheus_port,
        "notifier": settings.notifier_port,
    }
    alertmanager = f"{platform.HOST}:{settings.alertmanager_port}"
    config["alerting"]["alertmanagers"][0]["static_configs"][0]["targets"] = [alertmanager]
    addresses = {job: f"{platform.HOST}:{port}" for job, port in ports.items()}
    for job, address in {**addresses, **(targets or {})}.items():
        _set_target(config, job, address)
    rendered = directory / "prometheus.yml"
    header = f"# Rendered from {PROMETHEUS_CONFIG} by alexandrite.ops.monitoring: edit that.\n"
    rendered.write_text(header + yaml.safe_dump(config, sort_keys=False))
    return rendered


def render_alertmanager_config(
    paths: Paths, settings: MonitoringSettings, directory: Path | None = None
) -> Path:
    """The deploy file itself, or a copy whose webhook points at another notifier port."""
    if settings.notifier_port == platform.NOTIFIER.default_port:
        return ALERTMANAGER_CONFIG
    directory = directory or paths.run / "alertmanager"
    directory.mkdir(parents=True, exist_ok=True)
    config: dict[str, Any] = yaml.safe_load(ALERTMANAGER_CONFIG.read_text())
    for receiver in config["receivers"]:
        for webhook in receiver.get("webhook_configs", []):
            webhook["url"] = f"http://{platform.HOST}:{settings.notifier_port}{_WEBHOOK_PATH}"
    target = directory / "alertmanager.yml"
    target.write_text(yaml.safe_dump(config, sort_keys=False))
    return target


def prometheus_program(
    paths: Paths, settings: MonitoringSettings, config: Path | None = None
) -> Program:
    config = config or render_prometheus_config(paths, settings)
    storage = settings.prometheus_storage or paths.state / "prometheus"
    address = f"{platform.HOST}:{settings.prometheus_port}"
    return Program(
        name="prometheus",
        command=[
            "prometheus",
            f"--config.file={config}",
            f"--storage.tsdb.path={storage}",
            f"--storage.tsdb.retention.time={settings.retention}",
            f"--web.listen-address={address}",
            f"--web.external-url=http://{address}/",
            # POST /-/reload re-reads rules and thresholds without a restart (loopback only).
            "--web.enable-lifecycle",
            "--log.format=json",
        ],
        directory=paths.state,
        ready_url=f"http://{address}/-/ready",
        start_timeout=60.0,
        priority=90,
    )


def alertmanager_program(
    paths: Paths, settings: MonitoringSettings, config: Path | None = None
) -> Program:
    config = config or render_alertmanager_config(paths, settings)
    storage = settings.alertmanager_storage or paths.state / "alertmanager"
    address = f"{platform.HOST}:{settings.alertmanager_port}"
    return Program(
        name="alertmanager",
        command=[
            "prometheus-alertmanager",
            f"--config.file={config}",
            f"--storage.path={storage}",
            f"--web.listen-address={address}",
            f"--web.external-url=http://{address}/",
            # One instance: no gossip listener (by default it would bind one on 0.0.0.0).
            "--cluster.listen-address=",
            "--log.format=json",
        ],
        directory=paths.state,
        ready_url=f"http://{address}/-/ready",
        start_timeout=30.0,
        priority=80,
    )


def notifier_program(
    paths: Paths, settings: MonitoringSettings, environment: Mapping[str, str] | None = None
) -> Program:
    """``environment``: the services' common variables (state dir, telemetry)."""
    return Program(
        name="notifier",
        command=[sys.executable, "-m", "alexandrite.notifier"],
        environment={
            "ALEXANDRITE_STATE_DIR": str(paths.state),
            "PYTHONUNBUFFERED": "1",
            **(environment or {}),
            "NOTIFIER_PORT": str(settings.notifier_port),
        },
        directory=REPO_ROOT,
        ready_url=f"http://{platform.HOST}:{settings.notifier_port}/ready",
        start_timeout=60.0,
        priority=70,
    )


def monitoring_programs(
    paths: Paths,
    settings: MonitoringSettings | None = None,
    notifier_environment: Mapping[str, str] | None = None,
) -> list[Program]:
    """The notifier, Alertmanager and Prometheus; renders Prometheus's config as a side effect."""
    settings = settings or MonitoringSettings()
    return [
        notifier_program(paths, settings, notifier_environment),
        alertmanager_program(paths, settings),
        prometheus_program(paths, settings),
    ]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m alexandrite.ops.monitoring")
    parser.add_argument("action", choices=["render", "test-rules"])
    parser.add_argument("--alert-profile", choices=ALERT_PROFILES, default="production")
    args = parser.parse_args(argv)
    if args.action == "test-rules":
        with tempfile.TemporaryDirectory(prefix="alexandrite-rules-") as directory:
            tests = stage_rule_tests(Path(directory))
            command = ["promtool", "test", "rules", *map(str, tests)]
            return subprocess.run(command, check=False).returncode
    paths = Paths.from_env()
    settings = MonitoringSettings(alert_profile=args.alert_profile)
    print(render_prometheus_config(paths, settings))
    print(render_alertmanager_config(paths, settings))
    return 0


if __name__ == "__main__":
    sys.exit(main())
