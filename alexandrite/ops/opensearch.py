"""OpenSearch, the distributed trace store behind Zipkin (`alexandrite up --store opensearch`).

Installed from Maven Central (the `integ-test-zip` distribution: a real node, no bundled JDK, no
plugins) and run on Java 17 as its own system user, since OpenSearch refuses to run as root.
The zip is cached under `<cache>/opensearch/<version>/`; because the cache lives in root's home
(mode 0700, unreadable by that user), it is unpacked once into ROOT_DIR (default
/var/lib/alexandrite-opensearch), next to each node's config, data and logs.

Zipkin writes one index per day (zipkin-span-YYYY-MM-DD, zipkin-dependency-…, zipkin-autocomplete-…)
and never deletes any: retention here deletes whole days, which costs nothing compared with
deleting rows. The same job keeps an index template of ours next to Zipkin's (INDEX_SETTINGS:
a refresh every 5 s instead of every second, the translog synced every 5 s instead of on every
bulk request), which cut OpenSearch's merge time and made it store about 1.5-4 times as many
spans per second here (docs/scaling.md); it also applies them to the indices that exist.

    python -m alexandrite.ops.opensearch install              # fetch, unpack, print the home
    python -m alexandrite.ops.opensearch purge --days 7       # delete days older than 7
    python -m alexandrite.ops.opensearch retention --days 7   # purge every hour, forever

Errors:
    OpenSearchError: the distribution could not be fetched or unpacked, the user not created,
    or the node's API refused a request.
"""

from __future__ import annotations

import argparse
import logging
import os
import pwd
import re
import shutil
import subprocess
import sys
import tempfile
import time
import zipfile
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import httpx

from alexandrite.common import platform
from alexandrite.ops.paths import Paths
from alexandrite.ops.program import Program

__all__ = [
    "INDEX_SETTINGS",
    "OPENSEARCH_VERSION",
    "SYSTEM_USER",
    "OpenSearchError",
    "OpenSearchNode",
    "delete_old_indices",
    "ensure_index_settings",
    "ensure_opensearch_installed",
    "expired_indices",
    "opensearch_program",
    "opensearch_retention_program",
    "opensearch_zip_path",
]

log = logging.getLogger(__name__)

OPENSEARCH_VERSION = "2.19.4"
SYSTEM_USER = "alexandrite-opensearch"
_ARTIFACT = f"org.opensearch.distribution.integ-test-zip:opensearch:{OPENSEARCH_VERSION}:zip"
_DEPENDENCY_PLUGIN = "org.apache.maven.plugins:maven-dependency-plugin:3.8.1"
# Zipkin's daily indices (ES_DATE_SEPARATOR is the default "-").
_DAILY_INDEX = re.compile(r"^zipkin-(?:span|dependency|autocomplete)-(\d{4}-\d{2}-\d{2})$")


# Merged into Zipkin's own (legacy) index templates, which Zipkin installs without these. Spans
# become searchable up to 5 s later; an OpenSearch crash (not a process restart) can lose the
# last 5 s of acknowledged spans, the price of not fsyncing the translog on every bulk request.
INDEX_SETTINGS = {
    "index.refresh_interval": "5s",
    "index.translog.durability": "async",
    "index.translog.sync_interval": "5s",
}
_TEMPLATE = "alexandrite-zipkin-settings"
_ZIPKIN_INDICES = ["zipkin-span-*", "zipkin-dependency-*", "zipkin-autocomplete-*"]


class OpenSearchError(RuntimeError):
    """Installing or talking to OpenSearch failed."""


def _default_root() -> Path:
    return Path(os.environ.get("ALEXANDRITE_OPENSEARCH_DIR", "/var/lib/alexandrite-opensearch"))


@dataclass(frozen=True)
class OpenSearchNode:
    """One single-node cluster: where it listens and where its files are."""

    name: str = "local"
    host: str = platform.HOST
    http_port: int = field(default_factory=lambda: platform.OPENSEARCH.port)
    transport_port: int = field(default_factory=lambda: platform.OPENSEARCH.port_of("transport"))
    # Zipkin's bulk writes at 10k spans/s fit in 1 GiB; the rest of RAM is the page cache.
    heap_mib: int = 1024
    root: Path = field(default_factory=_default_root)

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.http_port}"

    @property
    def home(self) -> Path:
        return self.root / "dist" / OPENSEARCH_VERSION

    @property
    def directory(self) -> Path:
        return self.root / "nodes" / self.name

    @property
    def config(self) -> Path:
        return self.directory / "config"


def opensearch_zip_path(paths: Paths) -> Path:
    """Where the distribution's zip is cached once fetched (it may not exist yet)."""
    return paths.cache / "opensearch" / OPENSEARCH_VERSION / f"opensearch-{OPENSEARCH_VERSION}.zip"


def _fetch_zip(paths: Paths) -> Path:
    archive = opensearch_zip_path(paths)
    if archive.is_file():
        return archive
    if shutil.which("mvn") is None:
        raise OpenSearchError("Maven (mvn) is needed to fetch OpenSearch: apt-get install maven")
    archive.parent.mkdir(parents=True, exist_ok=True)
    log.info("fetching %s from Maven Central", _ARTIFACT)
    with tempfile.TemporaryDirectory(dir=archive.parent, prefix=".download-") as staging:
        command = [
            "mvn", "-B", "-q", f"{_DEPENDENCY_PLUGIN}:copy",
            f"-Dartifact={_ARTIFACT}", f"-DoutputDirectory={staging}",
        ]  # fmt: skip
        try:
            result = subprocess.run(
                command, cwd=staging, capture_output=True, text=True, timeout=900,
                check=False, stdin=subprocess.DEVNULL,
            )  # fmt: skip
        except subprocess.TimeoutExpired as exc:
            raise OpenSearchError(f"fetching {_ARTIFACT} took longer than 900 s") from exc
        downloaded = Path(staging) / archive.name
        if result.returncode != 0 or not downloaded.is_file():
            output = (result.stdout + result.stderr).strip()[-4000:]
            raise OpenSearchError(f"{' '.join(command)} exited with {result.returncode}: {output}")
        downloaded.replace(archive)
    return archive


def _ensure_user() -> pwd.struct_passwd:
    try:
        return pwd.getpwnam(SYSTEM_USER)
    except KeyError:
        pass
    log.info("creating the system user %s", SYSTEM_USER)
    result = subprocess.run(
        ["useradd", "--system", "--user-group", "--no-create-home",
         "--home-dir", "/nonexistent", "--shell", "/usr/sbin/nologin", SYSTEM_USER],
        capture_output=True, text=True, check=False, timeout=60,
    )  # fmt: skip
    if result.returncode != 0:
        raise OpenSearchError(f"useradd {SYSTEM_USER} failed (root needed): {result.stderr}")
    return pwd.getpwnam(SYSTEM_USER)


def _unpack(archive: Path, home: Path) -> None:
    if (home / "bin" / "opensearch").is_file():
        return
    home.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(dir=home.parent, prefix=".unpack-"))
    try:
        with zipfile.ZipFile(archive) as bundle:
            bundle.extractall(staging)
            # zipfile drops the permission bits: restore them (bin/ scripts are executable).
            for info in bundle.infolist():
                mode = (info.external_attr >> 16) & 0o777
                if mode:
                    (staging / info.filename).chmod(mode)
        unpacked = staging / f"opensearch-{OPENSEARCH_VERSION}"
        if not (unpacked / "bin" / "opensearch").is_file():
            raise OpenSearchError(
                f"{archive} has no opensearch-{OPENSEARCH_VERSION}/bin/opensearch"
            )
        unpacked.replace(home)
    except (OSError, zipfile.BadZipFile) as exc:
        raise OpenSearchError(f"cannot unpack {archive}: {exc}") from exc
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _jvm_options(node: OpenSearchNode) -> str:
    # The distribution's own jvm.options writes gc logs relative to its (read-only) home;
    # these are its other lines, with our heap and no gc log.
    return "\n".join(
        [
            f"-Xms{node.heap_mib}m",
            f"-Xmx{node.heap_mib}m",
            "-XX:+UseG1GC",
            "-XX:G1ReservePercent=25",
            "-XX:InitiatingHeapOccupancyPercent=30",
            "-Djava.io.tmpdir=${OPENSEARCH_TMPDIR}",
            # A node out of memory exits and the supervisor restarts it, instead of limping on.
            "-XX:+ExitOnOutOfMemoryError",
            "18-:-Djava.security.manager=allow",
            "-Djava.util.concurrent.ForkJoinPool.common.threadFactory="
            "org.opensearch.secure_sm.SecuredForkJoinWorkerThreadFactory",
            "",
        ]
    )


def _opensearch_yml(node: OpenSearchNode) -> str:
    return "\n".join(
        [
            "# Rendered by alexandrite.ops.opensearch: one node, loopback only.",
            "cluster.name: alexandrite-traces",
            f"node.name: {node.name}",
            f"path.data: {node.directory / 'data'}",
            f"path.logs: {node.directory / 'logs'}",
            f"network.host: {node.host}",
            f"http.port: {node.http_port}",
            f"transport.port: {node.transport_port}",
            # Single node: no discovery, and the production bootstrap checks (vm.max_map_count)
            # do not apply to a node bound to loopback.
            "discovery.type: single-node",
            "",
        ]
    )


def ensure_opensearch_installed(paths: Paths, node: OpenSearchNode | None = None) -> Path:
    """Fetch and unpack the distribution, create its user and the node's files; return home."""
    node = node or OpenSearchNode()
    user = _ensure_user()
    _unpack(_fetch_zip(paths), node.home)
    for sub in ("config/jvm.options.d", "data", "logs", "tmp"):
        (node.directory / sub).mkdir(parents=True, exist_ok=True)
    shutil.copyfile(node.home / "config" / "log4j2.properties", node.config / "log4j2.properties")
    (node.config / "jvm.options").write_text(_jvm_options(node), encoding="utf-8")
    (node.config / "opensearch.yml").write_text(_opensearch_yml(node), encoding="utf-8")
    # The node writes its keystore into config/, and its data, logs and temp files.
    for path in [node.root, node.root / "nodes", node.directory, *node.directory.rglob("*")]:
        os.chown(path, user.pw_uid, user.pw_gid)
    return node.home


def _java_home() -> str:
    java = shutil.which("java") or "/usr/bin/java"
    return str(Path(java).resolve().parents[1])


def opensearch_program(node: OpenSearchNode | None = None) -> Program:
    """The node as a supervised process, run as SYSTEM_USER (setpriv execs: signals reach it)."""
    node = node or OpenSearchNode()
    return Program(
        name="opensearch",
        command=[
            "setpriv",
            f"--reuid={SYSTEM_USER}",
            f"--regid={SYSTEM_USER}",
            "--init-groups",
            "--",
            str(node.home / "bin" / "opensearch"),
        ],
        environment={
            "OPENSEARCH_JAVA_HOME": _java_home(),
            "OPENSEARCH_PATH_CONF": str(node.config),
            "OPENSEARCH_TMPDIR": str(node.directory / "tmp"),
        },
        directory=node.directory,
        ready_url=f"{node.url}/_cluster/health?wait_for_status=yellow&timeout=1s",
        start_timeout=180.0,
        # Before Zipkin (20), which checks its storage at start.
        priority=10,
    )


def expired_indices(names: list[str], days: int, today: date) -> list[str]:
    """The Zipkin daily indices among `names` whose day is more than `days` before `today`."""
    cutoff = today - timedelta(days=days)
    expired = []
    for name in names:
        match = _DAILY_INDEX.match(name)
        if match and date.fromisoformat(match.group(1)) < cutoff:
            expired.append(name)
    return sorted(expired)


def delete_old_indices(url: str, days: int, *, today: date | None = None) -> list[str]:
    """Delete Zipkin's daily indices older than `days` at the node `url`; return their names."""
    if days < 1:
        raise ValueError(f"retention must be at least one day, not {days}")
    today = today or datetime.now(UTC).date()
    try:
        with httpx.Client(base_url=url, timeout=30.0) as client:
            listing = client.get("/_cat/indices/zipkin*", params={"format": "json", "h": "index"})
            listing.raise_for_status()
            names = [row["index"] for row in listing.json()]
            expired = expired_indices(names, days, today)
            for name in expired:
                client.delete(f"/{name}").raise_for_status()
    except (httpx.HTTPError, ValueError, KeyError, TypeError) as exc:
        raise OpenSearchError(f"retention at {url} failed: {exc}") from exc
    log.info("retention: deleted %d indices older than %d days: %s", len(expired), days, expired)
    return expired


def ensure_index_settings(url: str) -> None:
    """Install INDEX_SETTINGS for Zipkin's future daily indices and apply them to today's."""
    # A legacy template merges with Zipkin's (it uses legacy ones unless ES_TEMPLATE_PRIORITY is
    # set); `order` puts ours last, so our values win over any default of Zipkin's.
    template = {"index_patterns": _ZIPKIN_INDICES, "order": 100, "settings": INDEX_SETTINGS}
    try:
        with httpx.Client(base_url=url, timeout=30.0) as client:
            client.put(f"/_template/{_TEMPLATE}", json=template).raise_for_status()
            # All three are dynamic settings: existing indices take them at once.
            client.put(
                f"/{','.join(_ZIPKIN_INDICES)}/_settings",
                params={"allow_no_indices": "true", "expand_wildcards": "open"},
                json=INDEX_SETTINGS,
            ).raise_for_status()
    except httpx.HTTPError as exc:
        raise OpenSearchError(f"index settings at {url} failed: {exc}") from exc


def opensearch_retention_program(days: int, every_s: int = 3600, url: str = "") -> Program:
    """The job that keeps `days` of daily indices (Zipkin deletes none itself) and our index
    settings in place (ensure_index_settings), at its start and every `every_s` seconds."""
    return Program(
        name="opensearch-retention",
        command=[
            sys.executable,
            "-m",
            "alexandrite.ops.opensearch",
            "retention",
            "--days",
            str(days),
            "--every",
            str(every_s),
            "--url",
            url or OpenSearchNode().url,
        ],
        priority=90,
    )


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, not {value}")
    return value


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m alexandrite.ops.opensearch")
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("install", help="fetch and unpack OpenSearch, print its home")
    for name in ("purge", "retention"):
        command = commands.add_parser(name, help=f"{name} Zipkin's indices older than --days")
        command.add_argument("--days", type=_positive, required=True)
        command.add_argument("--url", default=OpenSearchNode().url)
        if name == "retention":
            command.add_argument("--every", type=_positive, default=3600)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    try:
        if args.command == "install":
            print(ensure_opensearch_installed(Paths.from_env().ensure()))
        elif args.command == "purge":
            print("\n".join(delete_old_indices(args.url, args.days)) or "nothing to delete")
        else:
            while True:
                started = time.monotonic()
                interval = args.every
                try:
                    ensure_index_settings(args.url)
                    delete_old_indices(args.url, args.days)
                except OpenSearchError as exc:
                    # OpenSearch may be starting or restarting: try again soon, not in an hour
                    # (the settings should be in place before Zipkin creates the day's index).
                    log.warning("%s", exc)
                    interval = min(args.every, 15)
                time.sleep(max(1.0, interval - (time.monotonic() - started)))
    except OpenSearchError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
