"""The alert thresholds of deploy/prometheus/limits.yml, read once for every part that needs them.

The OrderStuck alert (through ``alexandrite.ops.alert_thresholds``) and the support gateway's
verdicts read the same file, so "past its limit" means the same on a page and in an alert.
A profile (``production``, ``test``) is production's values with the profile's own keys on top.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

__all__ = ["ALERT_PROFILES", "LIMITS_FILE", "StatusLimit", "order_stuck_limits", "profile_limits"]

LIMITS_FILE = Path(__file__).resolve().parents[2] / "deploy" / "prometheus" / "limits.yml"
ALERT_PROFILES = ("production", "test")
_BASE_PROFILE = "production"


@dataclass(frozen=True)
class StatusLimit:
    """How long an order may stay in one status before OrderStuck fires, and how loudly."""

    status: str
    seconds: float
    severity: str


def _merge(base: Mapping[str, Any], override: Mapping[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in override.items():
        if isinstance(value, Mapping) and isinstance(merged.get(key), Mapping):
            merged[key] = _merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def profile_limits(profile: str, limits_file: Path = LIMITS_FILE) -> dict[str, Any]:
    """Every limit of ``profile``: production's, with the profile's own keys on top."""
    profiles: dict[str, Any] = yaml.safe_load(limits_file.read_text())["profiles"]
    if profile not in profiles:
        raise ValueError(f"unknown alert profile {profile!r}: choose one of {sorted(profiles)}")
    if profile == _BASE_PROFILE:
        return dict(profiles[_BASE_PROFILE])
    return _merge(profiles[_BASE_PROFILE], profiles[profile])


def order_stuck_limits(profile: str, limits_file: Path = LIMITS_FILE) -> dict[str, StatusLimit]:
    """Status → its OrderStuck limit (statuses without one, like ``created``, are absent)."""
    stuck: dict[str, Any] = profile_limits(profile, limits_file).get("order_stuck", {})
    return {
        status: StatusLimit(status, float(limit["seconds"]), str(limit["severity"]))
        for status, limit in stuck.items()
    }
