"""The MES domain: which job transitions are allowed, and how long a simulated print takes."""

from __future__ import annotations

import pytest

from alexandrite.common.errors import Conflict
from alexandrite.mes.domain import (
    TERMINAL,
    JobStatus,
    check_transition,
    is_terminal,
    print_duration_s,
)
from alexandrite.mes.settings import Settings


@pytest.mark.parametrize(
    ("current", "target"),
    [
        (JobStatus.QUEUED, JobStatus.IN_PRODUCTION),
        (JobStatus.QUEUED, JobStatus.FAILED),
        (JobStatus.QUEUED, JobStatus.CANCELLED),
        (JobStatus.IN_PRODUCTION, JobStatus.COMPLETED),
        (JobStatus.IN_PRODUCTION, JobStatus.FAILED),
        (JobStatus.IN_PRODUCTION, JobStatus.CANCELLED),
    ],
)
def test_a_job_moves_forward_along_the_production_path(
    current: JobStatus, target: JobStatus
) -> None:
    assert check_transition(current.value, target) is current


@pytest.mark.parametrize(
    ("current", "target"),
    [
        (JobStatus.QUEUED, JobStatus.COMPLETED),
        (JobStatus.QUEUED, JobStatus.QUEUED),
        (JobStatus.IN_PRODUCTION, JobStatus.IN_PRODUCTION),
        (JobStatus.IN_PRODUCTION, JobStatus.QUEUED),
    ],
)
def test_a_job_cannot_skip_or_repeat_a_step(current: JobStatus, target: JobStatus) -> None:
    with pytest.raises(Conflict):
        check_transition(current.value, target)


@pytest.mark.parametrize("terminal", sorted(TERMINAL))
@pytest.mark.parametrize("target", list(JobStatus))
def test_a_finished_job_never_changes_again(terminal: JobStatus, target: JobStatus) -> None:
    assert is_terminal(terminal.value)
    with pytest.raises(Conflict) as raised:
        check_transition(terminal.value, target)
    assert raised.value.status == 409
    assert raised.value.extra["job_status"] == terminal.value


def test_queued_and_printing_jobs_are_not_terminal() -> None:
    assert not is_terminal("queued")
    assert not is_terminal("in_production")


def test_print_time_grows_with_the_material_printed() -> None:
    one = print_duration_s(8.0, 1, 0.05, 0.0, 100.0)
    three = print_duration_s(8.0, 3, 0.05, 0.0, 100.0)
    assert one == pytest.approx(0.4)
    assert three == pytest.approx(1.2)


def test_print_time_stays_within_its_bounds() -> None:
    assert print_duration_s(0.001, 1, 0.05, 0.2, 10.0) == 0.2
    assert print_duration_s(10_000.0, 5, 0.05, 0.2, 10.0) == 10.0
    # An order without a measured volume still takes the shortest print.
    assert print_duration_s(None, 1, 0.05, 0.2, 10.0) == 0.2


def test_the_printer_fleet_is_off_by_default_and_named_in_order() -> None:
    settings = Settings(printers=3)
    assert settings.simulate_printers is False
    assert settings.printer_names() == ["printer-1", "printer-2", "printer-3"]


def test_settings_refuse_a_minimum_print_time_above_the_maximum() -> None:
    with pytest.raises(ValueError, match="print_seconds_min"):
        Settings(print_seconds_min=5, print_seconds_max=1)
