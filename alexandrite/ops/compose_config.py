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
from alexandrite.ops.paths import DEPLOY_DIR

__all__ = [
    "COLLECTOR_GATEWAYS",
    "SCRAPE_TARGETS",
    "alertmanager_config",
    "prometheus_config",
    "write_all",
]

# Job of deploy/prometheus/prometheus.yml -> its targets in the Compose file.
SCRAPE_TARGETS = {
    "shop": ["shop:8001"],
    "crm": ["crm:8002"],
    "mes": ["mes:8003"],
    "files": ["files:8004"],
    "notifier": ["notifier:8005"],
    "otelcol": ["collector-agent:8888", "collector-gateway-1:8888", "collector-gateway-2:8888"],
    "spanmetrics": ["collector-gateway-1:8889", "collector-gateway-2:8889"],
    "rabbitmq": ["rabbitmq-1:15692", "rabbitmq-2:15692", "rabbitmq-3:15692"],
    "zipkin": ["zipkin:9411"],
    "prometheus": ["prometheus:9090"],
    "alertmanager": ["alertmanager:9093"],
}
COLLECTOR_GATEWAYS = ["collector-gateway-1", "collector-gateway-2"]
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
        "alertmanagers": [{"static_configs": [{"targets": ["alertmanager:9093"]}]}]
    }
    for job in config["scrape_configs"]:
        labels = job["static_configs"][0].get("labels", {})
        job["static_configs"] = [{"targets": SCRAPE_TARGETS[job["job_name"]], "labels": labels}]
    return config


def alertmanager_config() -> dict[str, Any]:
    config = _load("alertmanager/alertmanager.yml")
    for receiver in config["receivers"]:
        for hook in receiver.get("webhook_configs", []):
            hook["url"] = _LOOPBACK_URL.sub("http://notifier:8005", hook["url"])
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
