"""Zipkin's process description and schema handling, checked without starting anything."""

from __future__ import annotations

from pathlib import Path

import pytest

from alexandrite.ops.paths import Paths
from alexandrite.ops.zipkin import ZipkinDatabase, purge_old_traces, zipkin_program
from alexandrite.ops.zipkin.schema import split_schema_by_table

SCHEMA = """
--
-- Copyright The OpenZipkin Authors
--
SET GLOBAL innodb_file_format=Barracuda;

CREATE TABLE IF NOT EXISTS zipkin_spans (
  `start_ts` BIGINT COMMENT 'epoch micros; used for TTL'
) ENGINE=InnoDB;

ALTER TABLE zipkin_spans ADD INDEX(`start_ts`) COMMENT 'for getTraces ordering and range';
CREATE TABLE IF NOT EXISTS zipkin_dependencies (`day` DATE NOT NULL);
"""


@pytest.fixture
def paths(tmp_path: Path) -> Paths:
    return Paths(state=tmp_path / "state", cache=tmp_path / "cache")


def test_schema_statements_are_grouped_by_table_without_innodb_file_format() -> None:
    tables = split_schema_by_table(SCHEMA)

    assert list(tables) == ["zipkin_spans", "zipkin_dependencies"]
    create, alter = tables["zipkin_spans"]
    # The semicolon inside the column comment does not end the statement.
    assert create.endswith("ENGINE=InnoDB")
    assert alter.startswith("ALTER TABLE zipkin_spans ADD INDEX")


def test_zipkin_listens_on_loopback_with_its_port_address_and_protocol(paths: Paths) -> None:
    db = ZipkinDatabase(password="secret", name="zipkin_x", user="zipkin_x")
    program = zipkin_program(paths, "mysql", port=19411, db=db)

    assert program.command[-3:] == [
        "--armeria.ports[0].port=19411",
        "--armeria.ports[0].ip=127.0.0.1",
        "--armeria.ports[0].protocols[0]=http",
    ]
    assert program.ready_url == "http://127.0.0.1:19411/health"
    assert program.environment["STORAGE_TYPE"] == "mysql"
    assert program.environment["MYSQL_DB"] == "zipkin_x"
    assert program.environment["MYSQL_PASS"] == "secret"
    assert program.environment["AUTOCOMPLETE_KEYS"] == "order.status"


def test_memory_storage_needs_no_database(paths: Paths) -> None:
    program = zipkin_program(paths, "mem")

    assert program.environment["STORAGE_TYPE"] == "mem"
    assert "MEM_MAX_SPANS" in program.environment
    assert not any(key.startswith("MYSQL_") for key in program.environment)
    assert not (paths.secrets / "zipkin-db-password").exists()


def test_purge_refuses_a_retention_shorter_than_a_day() -> None:
    with pytest.raises(ValueError, match="at least one day"):
        purge_old_traces(0, ZipkinDatabase(password="unused"))
