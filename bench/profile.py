"""``--profile``: py-spy flame graphs of the services while a benchmark measures them.

Each profiled process gets a ``py-spy record`` of its own (sampling at 100 Hz, ``--nonblocking``
so the service is never paused, ``--subprocesses`` for the file storage's analysis pool) that is
stopped with SIGINT when the measured part ends. py-spy writes the collapsed stacks
(``--format raw``); from them come ``bench/results/<stamp>-profile-<benchmark>-<process>.svg``
(a flame graph drawn here, so that no Perl or Rust tool is needed) and, in the results, the
frames holding the most samples by themselves (``self``) and with their callees (``total``), by
function, so that the report can name where the CPU went without opening the graphs.
Profiling takes CPU of its own (py-spy runs beside the services on the same two cores): the
figures of a profiled run are not the benchmark's.
"""

from __future__ import annotations

import contextlib
import html
import re
import shutil
import signal
import subprocess
import sys
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.processes import BenchProcess

__all__ = ["Profiler", "top_frames"]

_WIDTH = 1600
_ROW = 16
# Frames that hold every sample (the interpreter, the event loop): no news in a "total" list.
_TOTAL_CEILING = 90.0


def _py_spy() -> str:
    beside = Path(sys.executable).with_name("py-spy")
    found = str(beside) if beside.exists() else shutil.which("py-spy")
    if found is None:
        raise RuntimeError("py-spy is not installed (pip install -r requirements.lock)")
    return found


def _stacks(collapsed: Path) -> list[tuple[list[str], int]]:
    stacks = []
    for line in collapsed.read_text(errors="replace").splitlines():
        path, _, count = line.rpartition(" ")
        if path and count.isdigit():
            stacks.append((path.split(";"), int(count)))
    return stacks


def _function(frame: str) -> str:
    # "create (alexandrite/shop/handlers.py:41)" → "create (alexandrite/shop/handlers.py)"
    return re.sub(r":\d+\)$", ")", frame)


def top_frames(stacks: list[tuple[list[str], int]], limit: int = 15) -> dict[str, Any]:
    """The functions holding the most samples, by themselves and with their callees (% of all)."""
    total = sum(count for _, count in stacks) or 1
    own: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    for frames, count in stacks:
        if frames:
            own[_function(frames[-1])] += count
        for name in {_function(frame) for frame in frames}:
            inclusive[name] += count

    def ranked(counter: Counter[str], ceiling: float) -> list[dict[str, Any]]:
        shares = [(name, 100.0 * n / total) for name, n in counter.most_common()]
        kept = [(name, share) for name, share in shares if share <= ceiling][:limit]
        return [{"frame": name, "percent": round(share, 1)} for name, share in kept]

    return {
        "samples": total,
        "self": ranked(own, 100.0),
        "total": ranked(inclusive, _TOTAL_CEILING),
    }


def _tree(stacks: list[tuple[list[str], int]]) -> dict[str, Any]:
    root: dict[str, Any] = {"n": 0, "children": {}}
    for frames, count in stacks:
        root["n"] += count
        node = root
        for frame in frames:
            node = node["children"].setdefault(frame, {"n": 0, "children": {}})
            node["n"] += count
    return root


def flame_graph_svg(stacks: list[tuple[list[str], int]], title: str) -> str:
    """An icicle-ordered flame graph (root at the top), one rect per frame, its share on hover."""
    root = _tree(stacks)
    total = root["n"] or 1
    rects: list[str] = []
    depth_max = 0

    def draw(node: dict[str, Any], x: float, depth: int) -> None:
        nonlocal depth_max
        for name, child in sorted(node["children"].items()):
            width = _WIDTH * child["n"] / total
            if width >= 0.5:
                depth_max = max(depth_max, depth)
                share = 100.0 * child["n"] / total
                label = html.escape(name)
                hue = 20 + (len(name) * 7) % 40
                text = label if width > 7 * len(name) else label[: max(0, int(width / 7) - 2)]
                rects.append(
                    f"<g><title>{label} ({child['n']} samples, {share:.2f}%)</title>"
                    f'<rect x="{x:.1f}" y="{depth * _ROW + 24}" width="{width:.1f}" '
                    f'height="{_ROW - 1}" fill="hsl({hue},90%,60%)"/>'
                    f'<text x="{x + 2:.1f}" y="{depth * _ROW + 36}">{text}</text></g>'
                )
                draw(child, x, depth + 1)
            x += width

    draw(root, 0.0, 0)
    height = (depth_max + 2) * _ROW + 24
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{_WIDTH}" height="{height}" '
        'font-family="monospace" font-size="11">'
        f'<text x="4" y="16" font-size="14">{html.escape(title)} ({total} samples)</text>'
        + "".join(rects)
        + "</svg>\n"
    )


@dataclass
class Profiler:
    """Writes flame graphs into ``out`` named after ``stamp``; collects their top frames."""

    out: Path
    stamp: str
    rate_hz: int = 100
    graphs: dict[str, dict[str, Any]] = field(default_factory=dict)

    @contextlib.contextmanager
    def recording(self, benchmark: str, processes: list[BenchProcess]) -> Iterator[None]:
        self.out.mkdir(parents=True, exist_ok=True)
        running: list[tuple[str, Path, subprocess.Popen[bytes]]] = []
        for process in processes:
            if process.process is None:
                continue
            raw = self.out / f"{self.stamp}-profile-{benchmark}-{process.name}.txt"
            command = [
                _py_spy(),
                "record",
                "--pid",
                str(process.process.pid),
                "--rate",
                str(self.rate_hz),
                "--nonblocking",
                "--subprocesses",
                "--format",
                "raw",
                "--output",
                str(raw),
            ]
            spy = subprocess.Popen(
                command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL
            )
            running.append((process.name, raw, spy))
        try:
            yield
        finally:
            for _, _, spy in running:
                spy.send_signal(signal.SIGINT)
            for name, raw, spy in running:
                try:
                    _, errors = spy.communicate(timeout=60)
                except subprocess.TimeoutExpired:
                    spy.kill()
                    _, errors = spy.communicate()
                if raw.exists():
                    stacks = _stacks(raw)
                    svg = raw.with_suffix(".svg")
                    svg.write_text(flame_graph_svg(stacks, f"{benchmark}: {name}"))
                    # The collapsed stacks are the graph's source; only the graph is kept.
                    raw.unlink()
                    self.graphs[f"{benchmark}/{name}"] = {"file": svg.name, **top_frames(stacks)}
                else:
                    self.graphs[f"{benchmark}/{name}"] = {
                        "file": None,
                        "error": errors.decode(errors="replace")[-500:],
                    }
