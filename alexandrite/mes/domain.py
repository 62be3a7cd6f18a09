"""Production jobs: their statuses, the transitions allowed between them, and print times.

No I/O here. A job's status names are the MES part of the order statuses of DESIGN.md §2.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from alexandrite.common.errors import Conflict

__all__ = [
    "FAILURE_REASONS",
    "RESTARTED_MID_PRINT",
    "TERMINAL",
    "JobStatus",
    "PrintTimes",
    "PrinterStatus",
    "check_transition",
    "is_terminal",
    "lease_expired",
    "overrun_ratio",
    "print_duration_s",
]


class JobStatus(StrEnum):
    QUEUED = "queued"
    IN_PRODUCTION = "in_production"
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELLED = "cancelled"


class PrinterStatus(StrEnum):
    IDLE = "idle"
    BUSY = "busy"


TERMINAL = frozenset({JobStatus.COMPLETED, JobStatus.FAILED, JobStatus.CANCELLED})

_ALLOWED: dict[JobStatus, frozenset[JobStatus]] = {
    JobStatus.QUEUED: frozenset({JobStatus.IN_PRODUCTION, JobStatus.FAILED, JobStatus.CANCELLED}),
    JobStatus.IN_PRODUCTION: frozenset(
        {JobStatus.COMPLETED, JobStatus.FAILED, JobStatus.CANCELLED}
    ),
    JobStatus.COMPLETED: frozenset(),
    JobStatus.FAILED: frozenset(),
    JobStatus.CANCELLED: frozenset(),
}

# What the simulated printers blame when a print fails.
FAILURE_REASONS = ("nozzle clog", "bed adhesion lost", "filament runout", "layer shift")

# Why the MES fails a print that its own restart cut off and that no printer of it can resume.
RESTARTED_MID_PRINT = "production service restarted mid-print"

# A print is never expected to take less than this when judging how late it runs: a demo print
# of 0.2 s is not "five times late" after a one-second hiccup.
_SHORTEST_EXPECTED_S = 1.0


def is_terminal(status: str) -> bool:
    return JobStatus(status) in TERMINAL


def check_transition(current: str, target: JobStatus) -> JobStatus:
    """The job's current status, if it may move to ``target``; ``Conflict`` (409) otherwise."""
    status = JobStatus(current)
    if target not in _ALLOWED[status]:
        raise Conflict(
            f"a job that is {status.value} cannot become {target.value}",
            job_status=status.value,
        )
    return status


def print_duration_s(
    volume_cm3: float | None,
    quantity: int,
    seconds_per_cm3: float,
    minimum_s: float,
    maximum_s: float,
) -> float:
    """Simulated print time: proportional to the material printed, kept within the bounds."""
    material_cm3 = max(volume_cm3 or 0.0, 0.0) * max(quantity, 1)
    return min(max(material_cm3 * seconds_per_cm3, minimum_s), maximum_s)


@dataclass(frozen=True)
class PrintTimes:
    """How long a print is expected to take: the print speed settings."""

    seconds_per_cm3: float
    minimum_s: float
    maximum_s: float

    def expected_s(self, volume_cm3: float | None, quantity: int) -> float:
        return print_duration_s(
            volume_cm3, quantity, self.seconds_per_cm3, self.minimum_s, self.maximum_s
        )


def overrun_ratio(elapsed_s: float, expected_s: float) -> float:
    """How many times its expected print time a job has been printing (1.0: exactly on time)."""
    return max(elapsed_s, 0.0) / max(expected_s, _SHORTEST_EXPECTED_S)


def lease_expired(lease_expires_at: datetime | None, now: datetime) -> bool:
    """A printer's lease: the process driving it renews it while it works on a job. None means
    the printer is driven from outside (``POST /jobs/{id}/start``), so it never expires."""
    return lease_expires_at is not None and lease_expires_at <= now
