"""The journey's timeline, drawn on the server as SVG (no script: the pages' CSP has none).

Statuses and the order's business spans on one time axis; errors in red; each message's wait
between publish and consume as a dashed line. Long gaps are compressed: the axis gives every
interval between two moments a width that grows with the logarithm of its length, so an order
that lasts seconds and one that lasts days both read, and a compressed gap says its real length.
"""

from __future__ import annotations

import bisect
import itertools
import math
from dataclasses import dataclass
from datetime import datetime
from html import escape
from typing import Any

from alexandrite.common.readable import duration

__all__ = ["Axis", "timeline_svg"]

_WIDTH = 900
_LEFT = 150
_ROW = 18
_MAX_SPANS = 40
_FLOOR = 0.3
_COLOURS = {
    "created": "#9bb",
    "submitted": "#7ac",
    "in_review": "#a9d",
    "approved": "#6b8",
    "queued": "#db6",
    "in_production": "#e94",
    "completed": "#4a4",
    "failed": "#c33",
    "rejected": "#c66",
    "cancelled": "#999",
}


@dataclass
class Axis:
    """Seconds since the start → x, with every gap between two moments log-compressed."""

    moments: list[float]
    positions: list[float]
    base: float

    @classmethod
    def through(cls, moments: list[float], width: float) -> Axis:
        points = sorted(set(moments)) or [0.0]
        gaps = sorted(b - a for a, b in itertools.pairwise(points))
        # The typical gap is drawn at a readable width; longer ones grow with their logarithm,
        # and every gap keeps a floor so that a one-second step beside a one-day wait shows.
        base = max(gaps[len(gaps) // 2] if gaps else 1.0, 0.01)
        weights = [
            _FLOOR + math.log1p(gap / base)
            for gap in (b - a for a, b in itertools.pairwise(points))
        ]
        scale = width / (sum(weights) or 1.0)
        positions = [0.0]
        for weight in weights:
            positions.append(positions[-1] + weight * scale)
        return cls(points, positions, base)

    def x(self, moment: float) -> float:
        index = bisect.bisect_right(self.moments, moment) - 1
        if index < 0:
            return self.positions[0]
        if index >= len(self.moments) - 1:
            return self.positions[-1]
        a, b = self.moments[index], self.moments[index + 1]
        share = (_FLOOR * (moment - a) / (b - a) + math.log1p((moment - a) / self.base)) / (
            _FLOOR + math.log1p((b - a) / self.base)
        )
        return self.positions[index] + share * (self.positions[index + 1] - self.positions[index])

    def compressed_gaps(self) -> list[tuple[float, float, float]]:
        """(x from, x to, seconds) of the gaps drawn much shorter than their share."""
        return [
            (self.positions[i], self.positions[i + 1], b - a)
            for i, (a, b) in enumerate(itertools.pairwise(self.moments))
            if b - a > 20 * self.base
        ]


def _seconds(value: str | None, origin: datetime) -> float | None:
    if not value:
        return None
    return (datetime.fromisoformat(value) - origin).total_seconds()


def _text(x: float, y: float, label: str, anchor: str = "start", size: int = 11) -> str:
    return (
        f'<text x="{x:.1f}" y="{y:.1f}" font-size="{size}" text-anchor="{anchor}">'
        f"{escape(label)}</text>"
    )


def timeline_svg(journey: dict[str, Any], spans: list[dict[str, Any]]) -> str:
    """The SVG element for a journey; ``spans`` are (name, service, start/end ISO, error)."""
    origin = datetime.fromisoformat(journey["created_at"])
    statuses = journey["statuses"]
    if not statuses:
        return ""
    end = origin.timestamp() + journey["lifecycle_s"]
    shown = sorted(spans, key=lambda span: span["start"])[:_MAX_SPANS]
    moments = [0.0, end - origin.timestamp()]
    for status in statuses:
        moments.append(_seconds(status["entered_at"], origin) or 0.0)
    for span in shown:
        moments += [_seconds(span["start"], origin) or 0.0, _seconds(span["end"], origin) or 0.0]
    plot = _WIDTH - _LEFT - 10
    axis = Axis.through(moments, plot)
    height = 40 + _ROW * (1 + len(shown)) + 30
    parts = [
        f'<svg id="timeline" xmlns="http://www.w3.org/2000/svg" width="{_WIDTH}" '
        f'height="{height}" viewBox="0 0 {_WIDTH} {height}" role="img" '
        f'aria-label="timeline of the order">'
    ]
    y = 20
    parts.append(_text(4, y + 12, "status"))
    for status in statuses:
        x0 = _LEFT + axis.x(_seconds(status["entered_at"], origin) or 0.0)
        left = _seconds(status["left_at"], origin)
        x1 = _LEFT + axis.x(left if left is not None else moments[1])
        colour = _COLOURS.get(status["status"], "#888")
        parts.append(
            f'<rect x="{x0:.1f}" y="{y}" width="{max(x1 - x0, 2):.1f}" height="{_ROW - 3}" '
            f'fill="{colour}"><title>{escape(status["status"])}: '
            f"{escape(duration(status['duration_s']))}</title></rect>"
        )
        if x1 - x0 > 40:
            parts.append(_text(x0 + 3, y + 12, status["status"], size=10))
    rows: dict[str, float] = {}
    for index, span in enumerate(shown):
        row_y = y + _ROW * (index + 1)
        x0 = _LEFT + axis.x(_seconds(span["start"], origin) or 0.0)
        x1 = _LEFT + axis.x(_seconds(span["end"], origin) or 0.0)
        colour = "#c33" if span["error"] else "#58a"
        label = f"{span['service']}: {span['name']}"
        parts.append(_text(4, row_y + 12, label[:24], size=10))
        parts.append(
            f'<rect x="{x0:.1f}" y="{row_y + 2}" width="{max(x1 - x0, 2):.1f}" height="{_ROW - 6}"'
            f' fill="{colour}"><title>{escape(label)}: {escape(duration(span["seconds"]))}'
            f"{' (error)' if span['error'] else ''}</title></rect>"
        )
        rows[span["id"]] = row_y
    for hop in journey.get("hops", []):
        start = _seconds(hop.get("published_at"), origin)
        for consumer in hop["consumers"]:
            consumed = _seconds(consumer["consumed_at"], origin)
            if start is None or consumed is None:
                continue
            x0, x1 = _LEFT + axis.x(start), _LEFT + axis.x(consumed)
            line_y = y + _ROW * (len(shown) + 1) + 6
            parts.append(
                f'<line x1="{x0:.1f}" y1="{line_y}" x2="{x1:.1f}" y2="{line_y}" stroke="#555" '
                f'stroke-dasharray="3 2"><title>{escape(hop["routing_key"])} waited '
                f"{escape(duration(consumer['wait_s']))} for {escape(consumer['service'])}"
                "</title></line>"
            )
    axis_y = height - 12
    for x0, x1, seconds in axis.compressed_gaps():
        middle = _LEFT + (x0 + x1) / 2
        parts.append(_text(middle, axis_y, f"≈ {duration(seconds)}", anchor="middle", size=9))
    parts.append(_text(_LEFT, axis_y, "0 s", size=9))
    parts.append(_text(_WIDTH - 10, axis_y, duration(journey["lifecycle_s"]), "end", size=9))
    parts.append("</svg>")
    return "".join(parts)
