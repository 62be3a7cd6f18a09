"""``alexandrite faults``: set, clear and list write the faults file; bad input is refused."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from alexandrite.cli.faults import app, poison_routing_key
from alexandrite.common.faults import InvalidFault

runner = CliRunner()


@pytest.fixture
def faults_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("ALEXANDRITE_STATE_DIR", str(tmp_path))
    return tmp_path / "run" / "faults.json"


def test_set_writes_the_faults_and_keeps_the_others(faults_file: Path) -> None:
    assert runner.invoke(app, ["set", "crm_error_rate=0.5", "consumer_paused=mes"]).exit_code == 0
    assert runner.invoke(app, ["set", "db_latency_ms=200"]).exit_code == 0
    assert json.loads(faults_file.read_text()) == {
        "consumer_paused": "mes",
        "crm_error_rate": 0.5,
        "db_latency_ms": 200,
    }


@pytest.mark.parametrize(
    ("argument", "message"),
    [
        ("crm_error_rate=2", "outside 0..1"),
        ("speed=3", "unknown fault 'speed'"),
        ("db_latency_ms", "is not NAME=VALUE"),
        ("consumer_paused=kitchen", "names no known service"),
    ],
)
def test_set_refuses_bad_names_and_values_and_writes_nothing(
    faults_file: Path, argument: str, message: str
) -> None:
    result = runner.invoke(app, ["set", "slow_analysis=1", argument])
    assert result.exit_code == 2
    assert message in " ".join(result.output.split()).replace("│ ", "").replace(" │", "")
    assert not faults_file.exists()


def test_clear_switches_one_fault_or_all_off(faults_file: Path) -> None:
    runner.invoke(app, ["set", "crm_error_rate=0.5", "slow_analysis=2"])
    assert runner.invoke(app, ["clear", "crm_error_rate"]).exit_code == 0
    assert json.loads(faults_file.read_text()) == {"slow_analysis": 2.0}
    assert runner.invoke(app, ["clear"]).exit_code == 0
    assert not faults_file.exists()
    assert runner.invoke(app, ["clear", "nope"]).exit_code == 2


def test_list_shows_what_is_on(faults_file: Path) -> None:
    runner.invoke(app, ["set", "mes_failure_rate=0.9"])
    listed = runner.invoke(app, ["list", "--json"])
    assert listed.exit_code == 0
    assert json.loads(listed.output) == {"mes_failure_rate": 0.9}
    table = runner.invoke(app, ["list"])
    assert "mes_failure_rate" in table.output and "0.9" in table.output


def test_a_poison_message_goes_to_a_routing_key_its_queue_binds() -> None:
    assert poison_routing_key("crm.events") == "order.submitted"
    assert poison_routing_key("mes.events") == "order.approved"
    assert poison_routing_key("shop.events") == "order.in_review"
    with pytest.raises(InvalidFault, match=r"no queue 'nowhere\.events'"):
        poison_routing_key("nowhere.events")
