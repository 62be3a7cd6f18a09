"""The audit log's hash chain: how a row's hash is computed, and how the chain is verified.

Each row's hash is SHA-256 over the canonical JSON (sorted keys, no spaces, UTF-8) of all its
fields, including its sequence number and the previous row's hash; the first row's previous
hash is 64 zeros. Sequence numbers are contiguous from 1. So:

- a changed row no longer matches its own hash;
- a deleted row leaves a gap in the sequence and a next row whose previous hash is wrong;
- an inserted row has no valid hash, or shifts the sequence.

Someone who can rewrite the whole table can also recompute every hash after their change: the
chain's head (sequence and hash) is printed by ``alexandrite audit verify`` and every entry goes
to the JSON log too, and a head recorded elsewhere can be checked with ``--anchor SEQ:HASH``.
Deleting rows at the end is only detectable that way.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

__all__ = ["GENESIS", "HASHED_FIELDS", "ChainReport", "ChainVerifier", "canonical", "row_hash"]

GENESIS = "0" * 64
HASHED_FIELDS = (
    "seq",
    "at",
    "actor",
    "role",
    "action",
    "method",
    "path",
    "trace_id",
    "order_id",
    "result",
    "status_code",
    "client",
    "user_agent",
    "detail",
    "prev_hash",
)


def _plain(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat(timespec="microseconds")
    return value


def canonical(row: Mapping[str, Any]) -> bytes:
    fields = {name: _plain(row.get(name)) for name in HASHED_FIELDS}
    return json.dumps(fields, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def row_hash(row: Mapping[str, Any]) -> str:
    return hashlib.sha256(canonical(row)).hexdigest()


@dataclass(frozen=True)
class ChainReport:
    ok: bool
    rows: int
    head_seq: int
    head_hash: str
    broken_seq: int | None = None
    reason: str | None = None

    def describe(self) -> str:
        if self.ok:
            return f"audit chain intact: {self.rows} rows, head {self.head_seq}:{self.head_hash}"
        return f"audit chain BROKEN at row {self.broken_seq}: {self.reason}"


class ChainVerifier:
    """Feed rows in sequence order (batches are fine); read ``report()`` at the end."""

    def __init__(self) -> None:
        self._expected_seq = 1
        self._prev_hash = GENESIS
        self._rows = 0
        self._broken: tuple[int, str] | None = None

    @property
    def broken(self) -> bool:
        return self._broken is not None

    def feed(self, rows: Iterable[Mapping[str, Any]]) -> None:
        for row in rows:
            if self._broken is not None:
                return
            self._check(row)

    def _check(self, row: Mapping[str, Any]) -> None:
        seq = int(row["seq"])
        if seq != self._expected_seq:
            if seq > self._expected_seq:
                missing = f"{self._expected_seq}" + (
                    f"-{seq - 1}" if seq - 1 > self._expected_seq else ""
                )
                reason = f"row(s) {missing} missing before it (deleted?)"
            else:
                reason = f"sequence number {seq} out of order (inserted?)"
            self._broken = (seq, reason)
            return
        if row["prev_hash"] != self._prev_hash:
            self._broken = (seq, "its previous-hash does not match the row before it")
            return
        if row_hash(row) != row["hash"]:
            self._broken = (seq, "its content does not match its hash (changed or forged)")
            return
        self._rows += 1
        self._expected_seq = seq + 1
        self._prev_hash = str(row["hash"])

    def report(self) -> ChainReport:
        head_seq = self._expected_seq - 1
        if self._broken is not None:
            return ChainReport(
                ok=False,
                rows=self._rows,
                head_seq=head_seq,
                head_hash=self._prev_hash,
                broken_seq=self._broken[0],
                reason=self._broken[1],
            )
        return ChainReport(ok=True, rows=self._rows, head_seq=head_seq, head_hash=self._prev_hash)
