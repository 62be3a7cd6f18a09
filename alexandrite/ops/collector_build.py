"""Building the OpenTelemetry Collector distribution with the Collector Builder (ocb).

The manifest deploy/otelcol/builder-config.yaml pins one release for every component; the
builder is installed at the same release into `<cache>/gobin/<version>/` and the binary is built
into `<cache>/otelcol/<manifest sha256[:16]>/otelcol-alexandrite`, outside git. The digest in the
path means a changed manifest gets a fresh build and an unchanged one is a stat(). A cold build
(empty Go caches) takes about 5 minutes on 2 cores; with warm Go caches about 10 s.

Errors:
    CollectorBuildError: the builder could not be installed or failed to build (with its output).
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
import shutil
import time
from pathlib import Path

from alexandrite.ops.commands import SystemCommandError, run
from alexandrite.ops.paths import DEPLOY_DIR, Paths

__all__ = [
    "BINARY_NAME",
    "BUILDER_VERSION",
    "COLLECTOR_MANIFEST",
    "CollectorBuildError",
    "collector_binary_path",
    "ensure_collector_binary",
    "manifest_digest",
]

log = logging.getLogger(__name__)

# Must equal the core release the manifest pins (the builder refuses mismatched versions).
BUILDER_VERSION = "v0.161.0"
BUILDER_MODULE = "go.opentelemetry.io/collector/cmd/builder"
COLLECTOR_MANIFEST = DEPLOY_DIR / "otelcol" / "builder-config.yaml"
BINARY_NAME = "otelcol-alexandrite"
# A cold build on 2 cores takes about 5 minutes; this only stops a hung download.
_BUILD_TIMEOUT = 45 * 60.0
_OUTPUT_PATH_LINE = re.compile(r"^(\s*output_path:).*$", re.MULTILINE)


class CollectorBuildError(RuntimeError):
    """Installing the Collector Builder or building the distribution failed."""


def manifest_digest(manifest: Path = COLLECTOR_MANIFEST) -> str:
    """First 16 hex digits of the manifest's sha256: the cache key of the build."""
    return hashlib.sha256(manifest.read_bytes()).hexdigest()[:16]


def collector_binary_path(paths: Paths, manifest: Path = COLLECTOR_MANIFEST) -> Path:
    """Where the binary built from this manifest lives (whether or not it is built yet)."""
    return paths.cache / "otelcol" / manifest_digest(manifest) / BINARY_NAME


def _go_executable() -> str:
    found = shutil.which("go") or (
        "/usr/local/go/bin/go" if Path("/usr/local/go/bin/go").exists() else None
    )
    if found is None:
        raise CollectorBuildError(
            "the Go toolchain is missing: neither `go` on PATH nor /usr/local/go"
        )
    return found


def _go_environment(go: str, gobin: Path) -> dict[str, str]:
    # The builder runs `go` itself, so the toolchain's directory must be on PATH.
    path = f"{Path(go).parent}{os.pathsep}{os.environ.get('PATH', '')}"
    return {"GOBIN": str(gobin), "PATH": path}


def _ensure_builder(paths: Paths, go: str) -> Path:
    gobin = paths.cache / "gobin" / BUILDER_VERSION
    builder = gobin / "builder"
    if builder.exists():
        return builder
    log.info(
        "installing the Collector Builder %s@%s into %s", BUILDER_MODULE, BUILDER_VERSION, gobin
    )
    gobin.mkdir(parents=True, exist_ok=True)
    try:
        run(
            [go, "install", f"{BUILDER_MODULE}@{BUILDER_VERSION}"],
            env=_go_environment(go, gobin),
            timeout=_BUILD_TIMEOUT,
        )
    except SystemCommandError as exc:
        raise CollectorBuildError(f"installing the Collector Builder failed: {exc}") from exc
    return builder


def ensure_collector_binary(paths: Paths, manifest: Path = COLLECTOR_MANIFEST) -> Path:
    """Return the Collector binary for this manifest, building it first when it is not cached."""
    binary = collector_binary_path(paths, manifest)
    if binary.exists():
        log.debug("collector binary is cached at %s", binary)
        return binary
    go = _go_executable()
    builder = _ensure_builder(paths, go)
    final_dir = binary.parent
    # Build into a private directory and rename it at the end: an interrupted build never
    # leaves a half-written binary where the cache check above would trust it.
    staging = final_dir.with_name(f".{final_dir.name}.{os.getpid()}.building")
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    rendered = staging / "builder-config.yaml"
    text = manifest.read_text(encoding="utf-8")
    rendered.write_text(
        _OUTPUT_PATH_LINE.sub(lambda m: f"{m.group(1)} {staging / 'dist'}", text, count=1),
        encoding="utf-8",
    )
    log.info("building the OpenTelemetry Collector (%s); a cold build takes minutes", binary)
    started = time.monotonic()
    try:
        result = run(
            [str(builder), f"--config={rendered}"],
            env=_go_environment(go, builder.parent),
            timeout=_BUILD_TIMEOUT,
            check=False,
        )
    except SystemCommandError as exc:  # timed out or the builder is missing
        raise CollectorBuildError(f"the Collector build did not finish: {exc}") from exc
    (staging / "build.log").write_text(result.stdout + result.stderr, encoding="utf-8")
    built = staging / "dist" / BINARY_NAME
    if result.returncode != 0 or not built.exists():
        output = (result.stderr + result.stdout).strip()[-6000:]
        raise CollectorBuildError(
            f"the Collector Builder exited with {result.returncode} "
            f"(full log in {staging / 'build.log'}):\n{output}"
        )
    built.replace(staging / BINARY_NAME)  # the generated sources stay in dist/ for debugging
    shutil.rmtree(final_dir, ignore_errors=True)
    staging.replace(final_dir)
    log.info("built the Collector in %.0f s: %s", time.monotonic() - started, binary)
    return binary
