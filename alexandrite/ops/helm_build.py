"""helm, built from Go modules into the cache (outside git), for the chart's offline checks.

    python -m alexandrite.ops.helm_build      # prints the binary's path; builds it when missing

`go install helm.sh/helm/v3/cmd/helm@v3.22.0` into ``<cache>/gobin/helm-v3.22.0/``: no binary
download, only the Go module proxy. A cold build takes about 5 minutes on 2 cores; afterwards it
is a stat(). `make test` calls this before the tests (tests/unit/test_helm_chart.py needs it).

Errors:
    HelmBuildError: the Go toolchain is missing or `go install` failed (with its output).
"""

from __future__ import annotations

import logging
import os
import shutil
import sys
from pathlib import Path

from alexandrite.ops.commands import SystemCommandError, run
from alexandrite.ops.paths import Paths

__all__ = [
    "HELM_MODULE",
    "HELM_VERSION",
    "HelmBuildError",
    "ensure_helm_binary",
    "helm_binary_path",
]

log = logging.getLogger(__name__)

HELM_VERSION = "v3.22.0"
HELM_MODULE = "helm.sh/helm/v3/cmd/helm"
_BUILD_TIMEOUT = 45 * 60.0


class HelmBuildError(RuntimeError):
    """helm could not be built."""


def helm_binary_path(paths: Paths) -> Path:
    return paths.cache / "gobin" / f"helm-{HELM_VERSION}" / "helm"


def _go_executable() -> str:
    found = shutil.which("go") or (
        "/usr/local/go/bin/go" if Path("/usr/local/go/bin/go").exists() else None
    )
    if found is None:
        raise HelmBuildError("the Go toolchain is missing: neither `go` on PATH nor /usr/local/go")
    return found


def ensure_helm_binary(paths: Paths) -> Path:
    """The cached helm binary, built first when it is not there."""
    binary = helm_binary_path(paths)
    if binary.exists():
        return binary
    go = _go_executable()
    # Install into a private directory, then rename: an interrupted build leaves no binary
    # that the check above would trust.
    staging = binary.parent.with_name(f".{binary.parent.name}.{os.getpid()}.building")
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    log.info("building helm %s from Go modules (a cold build takes minutes)", HELM_VERSION)
    environment = {
        "GOBIN": str(staging),
        "PATH": f"{Path(go).parent}{os.pathsep}{os.environ['PATH']}",
    }
    try:
        run(
            [go, "install", f"{HELM_MODULE}@{HELM_VERSION}"],
            env=environment,
            timeout=_BUILD_TIMEOUT,
        )
    except SystemCommandError as exc:
        shutil.rmtree(staging, ignore_errors=True)
        raise HelmBuildError(f"go install {HELM_MODULE}@{HELM_VERSION} failed: {exc}") from exc
    shutil.rmtree(binary.parent, ignore_errors=True)
    staging.replace(binary.parent)
    return binary


def main() -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    print(ensure_helm_binary(Paths.from_env().ensure()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
