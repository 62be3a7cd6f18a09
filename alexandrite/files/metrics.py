"""The file storage's metrics (names: the monitoring contract).

alexandrite_model_upload_seconds                  receiving and storing a model's bytes
alexandrite_model_analysis_seconds                checking and measuring it (failures too)
alexandrite_model_analysis_failures_total{reason} invalid_model | timeout | worker_crash
"""

from __future__ import annotations

from typing import Literal

from prometheus_client import CollectorRegistry, Counter, Histogram

from alexandrite.common.errors import InvalidModel
from alexandrite.files.errors import AnalysisTimedOut, AnalysisWorkerFailed

__all__ = ["FAILURE_REASONS", "FailureReason", "FilesMetrics", "failure_reason"]

FailureReason = Literal["invalid_model", "timeout", "worker_crash"]
FAILURE_REASONS: tuple[FailureReason, ...] = ("invalid_model", "timeout", "worker_crash")
_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120)


def failure_reason(error: BaseException) -> FailureReason | None:
    """The short class of an analysis failure; None for what is no analysis failure."""
    if isinstance(error, InvalidModel):
        return "invalid_model"
    if isinstance(error, AnalysisTimedOut):
        return "timeout"
    if isinstance(error, AnalysisWorkerFailed):
        return "worker_crash"
    return None


class FilesMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.upload = Histogram(
            "alexandrite_model_upload_seconds",
            "Time to receive and store an uploaded model.",
            buckets=_BUCKETS,
            registry=registry,
        )
        self.analysis = Histogram(
            "alexandrite_model_analysis_seconds",
            "Time to check and measure a model, failed analyses included.",
            buckets=_BUCKETS,
            registry=registry,
        )
        self.failures = Counter(
            "alexandrite_model_analysis_failures_total",
            "Model analyses that failed, by reason.",
            ["reason"],
            registry=registry,
        )
        for reason in FAILURE_REASONS:
            self.failures.labels(reason=reason)
