"""The dependency-link job is scheduled with the OpenSearch store only, hourly, at the node."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from alexandrite.ops.opensearch import OpenSearchNode
from alexandrite.ops.paths import Paths
from alexandrite.ops.program import Program
from alexandrite.ops.stack import StackOptions, programs
from alexandrite.ops.tls import TlsMaterial
from alexandrite.ops.zipkin_dependencies import dependency_index, span_index


def _programs(tmp_path: Path, storage: str) -> dict[str, Program]:
    paths = Paths(state=tmp_path, cache=tmp_path).ensure()
    options = StackOptions(trace_storage=storage)  # type: ignore[arg-type]
    return {p.name: p for p in programs(paths, TlsMaterial.at(paths), options)}


def test_the_stack_on_opensearch_links_dependencies_every_hour_after_zipkin(
    tmp_path: Path,
) -> None:
    on_opensearch = _programs(tmp_path, "opensearch")
    job = on_opensearch["zipkin-dependencies"]
    assert job.command[1:3] == ["-m", "alexandrite.ops.zipkin_dependencies"]
    assert job.command[job.command.index("--every") + 1] == "3600"
    assert job.command[job.command.index("--url") + 1] == OpenSearchNode().url
    # Started after Zipkin, which installs the dependency index's template at its start.
    assert job.priority > on_opensearch["zipkin"].priority


@pytest.mark.parametrize("storage", ["mysql", "mem"])
def test_other_stores_need_no_dependency_job(tmp_path: Path, storage: str) -> None:
    # MariaDB: Zipkin links at query time while zipkin_dependencies is empty; memory: always.
    assert "zipkin-dependencies" not in _programs(tmp_path, storage)


def test_the_job_reads_and_writes_zipkins_daily_index_names() -> None:
    assert span_index(date(2026, 12, 1)) == "zipkin-span-2026-12-01"
    assert dependency_index(date(2026, 1, 9)) == "zipkin-dependency-2026-01-09"
