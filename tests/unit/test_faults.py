"""The faults reader: a missing file, values set, a changed file, a broken file."""

from __future__ import annotations

import logging
import os
from pathlib import Path

import pytest

from alexandrite.common.faults import (
    Faults,
    InvalidFault,
    parse_fault,
    read_faults_file,
    write_faults_file,
)


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_a_missing_file_means_no_faults(tmp_path: Path) -> None:
    faults = Faults(tmp_path / "faults.json")
    assert faults.current() == {}
    assert faults.crm_error_rate == 0.0
    assert faults.db_latency_s == 0.0
    assert faults.mes_failure_rate is None
    assert not faults.consumer_paused("mes-api")


def test_faults_set_in_the_file_are_in_effect(tmp_path: Path) -> None:
    path = tmp_path / "faults.json"
    write_faults_file(
        path,
        {
            "slow_analysis": 2.5,
            "mes_failure_rate": 0.7,
            "crm_error_rate": 1,
            "db_latency_ms": 150,
            "consumer_paused": "mes",
        },
    )
    faults = Faults(path)
    assert faults.slow_analysis_s == 2.5
    assert faults.mes_failure_rate == 0.7
    assert faults.crm_error_rate == 1.0
    assert faults.db_latency_s == pytest.approx(0.15)
    assert faults.consumer_paused("mes-api")
    assert faults.consumer_paused("mes")
    assert not faults.consumer_paused("crm-api")


def test_a_changed_file_is_read_again_after_the_check_interval(tmp_path: Path) -> None:
    path = tmp_path / "faults.json"
    clock = Clock()
    faults = Faults(path, check_interval_s=0.5, clock=clock)
    assert faults.current() == {}
    write_faults_file(path, {"crm_error_rate": 0.5})
    # Within the interval the file is not looked at.
    clock.now = 0.2
    assert faults.current() == {}
    clock.now = 0.6
    assert faults.current() == {"crm_error_rate": 0.5}
    write_faults_file(path, {"crm_error_rate": 0.25})
    os.utime(path, ns=(1, 1))  # even an older mtime is a change
    clock.now = 1.2
    assert faults.current() == {"crm_error_rate": 0.25}
    path.unlink()
    clock.now = 1.8
    assert faults.current() == {}


def test_a_broken_file_is_ignored_with_a_log_and_the_last_faults_stay(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "faults.json"
    clock = Clock()
    faults = Faults(path, check_interval_s=0.5, clock=clock)
    write_faults_file(path, {"db_latency_ms": 100})
    assert faults.current() == {"db_latency_ms": 100}
    path.write_text('{"db_latency_ms": ')
    clock.now = 1.0
    with caplog.at_level(logging.WARNING, logger="alexandrite.common.faults"):
        assert faults.current() == {"db_latency_ms": 100}
    assert any("ignoring the faults file" in record.getMessage() for record in caplog.records)


def test_an_unknown_or_out_of_range_fault_in_the_file_is_ignored_alone(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "faults.json"
    path.write_text('{"crm_error_rate": 3, "bogus": 1, "db_latency_ms": 20}')
    with caplog.at_level(logging.WARNING, logger="alexandrite.common.faults"):
        assert Faults(path).current() == {"db_latency_ms": 20}
    assert sum("ignoring a fault" in r.getMessage() for r in caplog.records) == 2


@pytest.mark.parametrize(
    ("name", "raw", "message"),
    [
        ("nope", "1", "unknown fault 'nope'"),
        ("crm_error_rate", "1.5", "outside 0..1"),
        ("crm_error_rate", "often", "is not a number"),
        ("db_latency_ms", "2.5", "is not a whole number"),
        ("consumer_paused", "printer", "names no known service"),
        ("poison_message", " ", "give the queue"),
    ],
)
def test_bad_fault_values_are_refused_with_what_would_do(name: str, raw: str, message: str) -> None:
    with pytest.raises(InvalidFault, match=message):
        parse_fault(name, raw)


def test_service_names_are_normalised_to_short_names() -> None:
    assert parse_fault("consumer_paused", "mes-api,crm") == "crm,mes"


def test_the_file_round_trips_and_leaves_no_temporary_files(tmp_path: Path) -> None:
    path = tmp_path / "run" / "faults.json"
    write_faults_file(path, {"slow_analysis": 3.0, "consumer_paused": "shop"})
    assert read_faults_file(path) == {"slow_analysis": 3.0, "consumer_paused": "shop"}
    assert [p.name for p in path.parent.iterdir()] == ["faults.json"]
