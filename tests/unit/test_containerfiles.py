"""The Containerfiles (deploy/containers/) are well formed and agree with the repository.

Parsed here, instruction by instruction: what they copy exists, the Collector is built by the
same builder release and manifest as the local build, the services run as a non-root user,
and the build context leaves the run-time secrets out. Building them needs base images from a
registry: docs/deploy.md says what was built on this machine and how.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from alexandrite.ops.collector_build import BUILDER_VERSION, COLLECTOR_MANIFEST
from alexandrite.ops.paths import DEPLOY_DIR, REPO_ROOT

CONTAINERS = DEPLOY_DIR / "containers"
KNOWN = {"FROM", "ARG", "ENV", "RUN", "COPY", "WORKDIR", "USER", "LABEL", "CMD", "ENTRYPOINT"}


def _instructions(path: Path) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) with continuation lines joined and comments dropped."""
    logical: list[str] = []
    pending = ""
    for line in path.read_text().splitlines():
        if not pending and (not line.strip() or line.lstrip().startswith("#")):
            continue
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        logical.append(pending + line)
        pending = ""
    assert not pending, f"{path.name} ends inside a continued line"
    return [(text.split(None, 1)[0], text.split(None, 1)[1].strip()) for text in logical]


@pytest.mark.parametrize("name", ["platform.Containerfile", "otelcol.Containerfile"])
def test_each_containerfile_uses_known_instructions_and_copies_files_that_exist(name: str) -> None:
    instructions = _instructions(CONTAINERS / name)
    assert instructions[0][0] == "ARG" and any(i == "FROM" for i, _ in instructions)
    assert {i for i, _ in instructions} <= KNOWN
    stages = {
        m.group(1)
        for i, a in instructions
        if i == "FROM"
        for m in [re.search(r" AS (\w+)", a)]
        if m
    }
    for instruction, arguments in instructions:
        if instruction != "COPY":
            continue
        parts = arguments.split()
        if parts[0].startswith("--from="):
            assert parts[0].removeprefix("--from=") in stages
            continue
        for source in parts[:-1]:
            assert (REPO_ROOT / source).exists(), f"{name}: COPY {source}: no such file"


@pytest.mark.parametrize("name", ["platform.Containerfile", "otelcol.Containerfile"])
def test_each_image_runs_as_a_user_that_is_not_root(name: str) -> None:
    users = [a for i, a in _instructions(CONTAINERS / name) if i == "USER"]
    assert users and users[-1].split(":")[0] not in {"0", "root"}


def test_the_collector_image_is_built_like_the_local_collector() -> None:
    instructions = _instructions(CONTAINERS / "otelcol.Containerfile")
    assert f"BUILDER_VERSION={BUILDER_VERSION}" in [a for i, a in instructions if i == "ARG"]
    manifest = COLLECTOR_MANIFEST.relative_to(REPO_ROOT).as_posix()
    assert any(i == "COPY" and a.startswith(manifest) for i, a in instructions)
    # The agents' load-balancing exporter (the chart's DaemonSet) must be in that manifest.
    assert "exporter/loadbalancingexporter" in COLLECTOR_MANIFEST.read_text()


def test_the_platform_image_installs_the_locked_runtime_dependencies_only() -> None:
    runs = " ".join(
        a for i, a in _instructions(CONTAINERS / "platform.Containerfile") if i == "RUN"
    )
    assert "-c requirements.lock ." in runs
    assert "[dev]" not in runs


def test_the_build_context_leaves_out_the_run_time_secrets_and_the_environment() -> None:
    ignored = (REPO_ROOT / ".containerignore").read_text().split()
    assert {"var/", ".venv/", ".git/"} <= set(ignored)
