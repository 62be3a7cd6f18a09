"""Installing the Debian packages of the servers the platform runs on (only what is missing)."""

from __future__ import annotations

import logging

from alexandrite.ops.commands import run

__all__ = ["OPTIONAL_PACKAGES", "REQUIRED_PACKAGES", "ensure_apt_packages", "missing_packages"]

log = logging.getLogger(__name__)

REQUIRED_PACKAGES = [
    "rabbitmq-server",
    "postgresql",
    "mariadb-server",
    "prometheus",
    "prometheus-alertmanager",
]
# Browser tests and diagrams: worth having, not needed to run the platform.
OPTIONAL_PACKAGES = ["chromium", "plantuml"]

_APT_ENV = {"DEBIAN_FRONTEND": "noninteractive", "NEEDRESTART_MODE": "a"}


def missing_packages(packages: list[str]) -> list[str]:
    """The packages among `packages` that dpkg does not report as installed."""
    if not packages:
        return []
    # dpkg-query exits 1 when any package is unknown but still prints the others' status.
    result = run(
        ["dpkg-query", "-W", "-f=${Package}\t${db:Status-Abbrev}\n", *packages], check=False
    )
    installed = {
        name
        for name, _, status in (line.partition("\t") for line in result.stdout.splitlines())
        if status.startswith("ii")
    }
    return [package for package in packages if package not in installed]


def ensure_apt_packages(packages: list[str]) -> None:
    """Install the missing ones among `packages`, running `apt-get update` once first."""
    missing = missing_packages(packages)
    if not missing:
        log.info("apt packages already installed: %s", " ".join(packages))
        return
    log.info("installing apt packages: %s", " ".join(missing))
    run(["apt-get", "update", "-q"], env=_APT_ENV, timeout=600)
    run(
        ["apt-get", "install", "-y", "-q", *missing],
        env=_APT_ENV,
        timeout=1800,
    )
    still_missing = missing_packages(missing)
    if still_missing:
        raise RuntimeError(f"apt-get install finished but these are missing: {still_missing}")
