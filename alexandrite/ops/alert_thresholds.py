"""Alert thresholds as Prometheus series, rendered from deploy/prometheus/limits.yml.

The alert rules compare with ``alexandrite:threshold:<name>`` instead of holding numbers, so one
YAML file holds every threshold and a profile (``production``, ``test``) changes them without
changing a rule. ``render_thresholds("test")`` gives the recording rules of that profile:

    - record: alexandrite:threshold:order_stuck_seconds
      expr: vector(30)
      labels: {status: approved, severity: page}
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from alexandrite.common.status_limits import ALERT_PROFILES, LIMITS_FILE, profile_limits
from alexandrite.ops.paths import DEPLOY_DIR

__all__ = [
    "ALERT_PROFILES",
    "LIMITS_FILE",
    "THRESHOLD_PREFIX",
    "profile_limits",
    "render_thresholds",
    "stage_rule_tests",
    "write_thresholds",
]

THRESHOLD_PREFIX = "alexandrite:threshold:"


def _rule(name: str, value: float, labels: Mapping[str, str] | None = None) -> dict[str, Any]:
    rule: dict[str, Any] = {"record": f"{THRESHOLD_PREFIX}{name}", "expr": f"vector({value:g})"}
    if labels:
        rule["labels"] = dict(labels)
    return rule


def render_thresholds(profile: str, limits_file: Path = LIMITS_FILE) -> str:
    """The recording rules (a Prometheus rule file, as YAML text) of one profile."""
    limits = profile_limits(profile, limits_file)
    rules: list[dict[str, Any]] = []
    for status, limit in limits.pop("order_stuck").items():
        rules.append(
            _rule(
                "order_stuck_seconds",
                float(limit["seconds"]),
                {"status": status, "severity": str(limit["severity"])},
            )
        )
    for name, value in sorted(limits.items()):
        rules.append(_rule(name, float(value)))
    document = {
        "groups": [
            {"name": f"alexandrite-thresholds-{profile}", "rules": rules},
        ]
    }
    header = (
        f"# Rendered from {limits_file.name} (profile {profile}) by "
        "alexandrite.ops.alert_thresholds: edit limits.yml, not this file.\n"
    )
    return header + yaml.safe_dump(document, sort_keys=False)


def write_thresholds(path: Path, profile: str, limits_file: Path = LIMITS_FILE) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render_thresholds(profile, limits_file))
    return path


def stage_rule_tests(directory: Path) -> list[Path]:
    """Lay out rules/, tests/ and both profiles' thresholds in ``directory`` for promtool.

    The promtool unit tests (deploy/prometheus/tests) name ``../rules/*.yml`` and
    ``../thresholds.yml`` / ``../thresholds-test.yml``; the thresholds are rendered, never kept
    in git, so the tests run on a copy. Returns the staged test files:

        promtool test rules <directory>/tests/*.yml
    """
    source = DEPLOY_DIR / "prometheus"
    for folder in ("rules", "tests"):
        target = directory / folder
        target.mkdir(parents=True, exist_ok=True)
        for file in sorted((source / folder).glob("*.yml")):
            (target / file.name).write_text(file.read_text())
    write_thresholds(directory / "thresholds.yml", "production")
    write_thresholds(directory / "thresholds-test.yml", "test")
    return sorted((directory / "tests").glob("*.yml"))
