"""The audit log's hash chain names the first row that was changed, deleted or inserted."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from alexandrite.gateway.audit_chain import GENESIS, ChainVerifier, canonical, row_hash


def _chain(count: int) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    previous = GENESIS
    start = datetime(2026, 11, 28, 12, tzinfo=UTC)
    for seq in range(1, count + 1):
        row: dict[str, Any] = {
            "seq": seq,
            "at": start + timedelta(seconds=seq),
            "actor": "ada",
            "role": "support",
            "action": "zipkin.api",
            "method": "GET",
            "path": f"/zipkin/api/v2/trace/{seq:032x}",
            "trace_id": f"{seq:032x}",
            "order_id": None,
            "result": "allowed",
            "status_code": 200,
            "client": "127.0.0.1",
            "user_agent": "test",
            "detail": None,
            "prev_hash": previous,
        }
        row["hash"] = row_hash(row)
        previous = row["hash"]
        rows.append(row)
    return rows


def _verify(rows: list[dict[str, Any]]) -> Any:
    verifier = ChainVerifier()
    verifier.feed(rows)
    return verifier.report()


def test_an_untouched_chain_is_intact_and_reports_its_head() -> None:
    rows = _chain(5)
    report = _verify(rows)
    assert report.ok and report.rows == 5
    assert (report.head_seq, report.head_hash) == (5, rows[-1]["hash"])


def test_an_empty_log_is_intact() -> None:
    report = _verify([])
    assert report.ok and report.rows == 0 and report.head_hash == GENESIS


def test_a_changed_field_breaks_its_own_row() -> None:
    rows = _chain(5)
    rows[2]["result"] = "denied"
    report = _verify(rows)
    assert not report.ok and report.broken_seq == 3 and "hash" in report.reason


def test_a_changed_time_breaks_its_row() -> None:
    rows = _chain(3)
    rows[1]["at"] = rows[1]["at"] + timedelta(microseconds=1)
    assert _verify(rows).broken_seq == 2


def test_a_deleted_row_is_named_by_the_gap() -> None:
    rows = _chain(5)
    del rows[1]
    report = _verify(rows)
    assert report.broken_seq == 3 and "2 missing" in report.reason


def test_a_rehashed_row_breaks_the_next_link() -> None:
    rows = _chain(5)
    rows[1]["actor"] = "mallory"
    rows[1]["hash"] = row_hash(rows[1])
    report = _verify(rows)
    assert report.broken_seq == 3 and "previous-hash" in report.reason


def test_the_canonical_form_is_stable_and_includes_the_previous_hash() -> None:
    row = _chain(1)[0]
    assert canonical(row) == canonical(dict(reversed(list(row.items()))))
    assert GENESIS.encode() in canonical(row)
    assert b'"at":"2026-11-28T12:00:01.000000+00:00"' in canonical(row)
