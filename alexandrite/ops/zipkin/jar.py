"""The Zipkin server's executable jar, fetched once from Maven Central with Maven.

The `exec` classifier is the full server; `slim` has no MySQL storage. The jar is cached outside
git under `<cache>/zipkin/<version>/` and downloaded into a staging folder first, so an interrupted
download is never taken for a cached jar.
"""

from __future__ import annotations

import logging
import shutil
import subprocess
import tempfile
from pathlib import Path

from alexandrite.ops.paths import Paths
from alexandrite.ops.zipkin.errors import ZipkinError

__all__ = ["ZIPKIN_VERSION", "ensure_zipkin_jar", "zipkin_jar_path"]

log = logging.getLogger(__name__)

# The newest release on Maven Central (its maven-metadata.xml) when this was written.
ZIPKIN_VERSION = "3.6.1"
_ARTIFACT = f"io.zipkin:zipkin-server:{ZIPKIN_VERSION}:jar:exec"
_DEPENDENCY_PLUGIN = "org.apache.maven.plugins:maven-dependency-plugin:3.8.1"


def zipkin_jar_path(paths: Paths) -> Path:
    """Where the jar of ZIPKIN_VERSION lives once fetched (it may not exist yet)."""
    return paths.cache / "zipkin" / ZIPKIN_VERSION / f"zipkin-server-{ZIPKIN_VERSION}-exec.jar"


def ensure_zipkin_jar(paths: Paths) -> Path:
    """Return the cached Zipkin jar, fetching it with Maven first when it is missing."""
    jar = zipkin_jar_path(paths)
    if jar.is_file():
        return jar
    if shutil.which("mvn") is None:
        raise ZipkinError("Maven (mvn) is needed to fetch the Zipkin jar: apt-get install maven")
    jar.parent.mkdir(parents=True, exist_ok=True)
    log.info("fetching %s from Maven Central", _ARTIFACT)
    with tempfile.TemporaryDirectory(dir=jar.parent, prefix=".download-") as staging:
        # -B: no colours or progress bars in the output. Run inside the staging folder so
        # Maven's stub project never picks up a pom.xml from the caller's working directory.
        command = [
            "mvn",
            "-B",
            "-q",
            f"{_DEPENDENCY_PLUGIN}:copy",
            f"-Dartifact={_ARTIFACT}",
            f"-DoutputDirectory={staging}",
        ]
        try:
            result = subprocess.run(
                command,
                cwd=staging,
                capture_output=True,
                text=True,
                timeout=600,
                check=False,
                stdin=subprocess.DEVNULL,
            )
        except subprocess.TimeoutExpired as exc:
            raise ZipkinError(f"fetching {_ARTIFACT} took longer than 600 s") from exc
        if result.returncode != 0:
            output = (result.stdout + result.stderr).strip()[-4000:]
            raise ZipkinError(f"{' '.join(command)} exited with {result.returncode}: {output}")
        downloaded = Path(staging) / jar.name
        if not downloaded.is_file():
            raise ZipkinError(f"Maven reported success but {downloaded} is missing")
        downloaded.replace(jar)
    log.info("Zipkin jar cached at %s", jar)
    return jar
