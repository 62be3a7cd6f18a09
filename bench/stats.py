"""Small statistics for alternated comparisons: percentiles, median and spread, ratios."""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from typing import Any

__all__ = ["percentile", "spread", "summary"]


def percentile(values: Sequence[float], share: float) -> float:
    """The ``share`` (0..1) percentile by linear interpolation; NaN for no values."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    position = (len(ordered) - 1) * share
    low = int(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def spread(values: Sequence[float]) -> dict[str, float]:
    """Median, min, max and the interquartile range of a handful of per-round values."""
    if not values:
        return {"median": float("nan"), "min": float("nan"), "max": float("nan"), "iqr": 0.0}
    return {
        "median": statistics.median(values),
        "min": min(values),
        "max": max(values),
        "iqr": percentile(values, 0.75) - percentile(values, 0.25),
    }


def summary(values: Sequence[float]) -> dict[str, Any]:
    """``spread`` plus the per-round values themselves, rounded for the report."""
    return {
        **{key: round(value, 4) for key, value in spread(values).items()},
        "rounds": [round(value, 4) for value in values],
    }
