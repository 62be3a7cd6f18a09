"""Production jobs: their statuses, the transitions allowed between them, and print times.

No I/O here. A job's status names are the MES part of the order statuses of DESIGN.md §2.
"""

from __future__ import annotations

from enum import StrEnum

from alexandrite.common.errors import Conflict

__all__ = [
    "FAILURE_REASONS",
    "TERMINAL",
    "JobStatus",
    "PrinterStatus",
    "check_transition",
    "is_terminal",
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
