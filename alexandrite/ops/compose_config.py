"""The server configurations of the Compose topology, derived from the local ones in deploy/.

    python -m alexandrite.ops.compose_config OUT_DIR     # the Compose file's `render-config`

Compose cannot template, and the local files name 127.0.0.1; this writes, from the same files
(so rules, routes, redaction and sampling are written once), what differs between containers:

    prometheus.yml        the local jobs with Compose host names as targets
    thresholds.yml        the alert thresholds of ALEXANDRITE_ALERT_PROFILE (default production)
    alertmanager.yml      the local routes, delivering to the notifier container

The Collector needs no rendering: Compose runs deploy/otelcol's files with a small override each
(deploy/compose/otelcol-*.yaml), as the chart does.
"""

from __future__ import annotations

import os
import re
import sys
from pathlib import Path
from typing import Any

import yaml

from alexandrite.ops.alert_thresholds import write_thresholds
from alexandrite.ops.monitoring import scrape_ports
from alexandrite.ops.paths import DEPLOY_DIR

__all__ = [
    "COLLECTOR_GATEWAYS",
    "SCRAPE_TARGETS",
    "alertmanager_config",
    "prometheus_config",
    "write_all",
]

COLLECTOR_GATEWAYS = ["collector-gateway-1", "collector-gateway-2"]
# Job of deploy/prometheus/prometheus.yml -> the Compose containers it scrapes.
_SCRAPE_HOSTS = {
    **{job: [job] for job in ("shop", "crm", "mes", "files", "notifier")},
    "otelcol": ["collector-agent", *COLLECTOR_GATEWAYS],
    "spanmetrics": COLLECTOR_GATEWAYS,
    "rabbitmq": ["rabbitmq-1", "rabbitmq-2", "rabbitmq-3"],
    **{job: [job] for job in ("zipkin", "prometheus", "alertmanager")},
}
# Job -> its targets in the Compose file: the containers listen on the spec's default ports.
SCRAPE_TARGETS = {
    job: [f"{host}:{port}" for host in _SCRAPE_HOSTS[job]]
    for job, port in scrape_ports(defaults=True).items()
}
_LOOPBACK_URL = re.compile(r"^http://127\.0\.0\.1:[0-9]+")


def _load(relative: str) -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load((DEPLOY_DIR / relative).read_text())
    return loaded


def prometheus_config() -> dict[str, Any]:
    config = _load("prometheus/prometheus.yml")
    config["rule_files"] = [
        "/etc/prometheus/rules/*.yml",
        "/etc/prometheus/rendered/thresholds.yml",
    ]
    config["alerting"] = {
        "alertmanagers": [{"static_configs": [{"targets": SCRAPE_TARGETS["alertmanager"]}]}]
    }
    for job in config["scrape_configs"]:
        labels = job["static_configs"][0].get("labels", {})
        job["static_configs"] = [{"targets": SCRAPE_TARGETS[job["job_name"]], "labels": labels}]
    return config


def alertmanager_config() -> dict[str, Any]:
    config = _load("alertmanager/alertmanager.yml")
    for receiver in config["receivers"]:
        for hook in receiver.get("webhook_configs", []):
            hook["url"] = _LOOPBACK_URL.sub(f"http://{SCRAPE_TARGETS['notifier'][0]}", hook["url"])
    return config


def write_all(directory: Path, alert_profile: str = "production") -> list[Path]:
    directory.mkdir(parents=True, exist_ok=True)
    documents = {
        "prometheus.yml": prometheus_config(),
        "alertmanager.yml": alertmanager_config(),
    }
    written = []
    for name, document in documents.items():
        path = directory / name
        path.write_text(yaml.safe_dump(document, sort_keys=False))
        written.append(path)
    written.append(write_thresholds(directory / "thresholds.yml", alert_profile))
    return written


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print(__doc__)
        return 2
    profile = os.environ.get("ALEXANDRITE_ALERT_PROFILE", "production")
    for path in write_all(Path(argv[0]), profile):
        print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
