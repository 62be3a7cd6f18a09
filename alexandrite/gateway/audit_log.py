"""Writing and reading the audit log (table ``audit_log``, chained as ``audit_chain`` says).

Appends are serialised by a transaction-scoped advisory lock, so the previous row read under the
lock is really the last one, even with several gateway processes and the CLI writing at once.
Every entry is also logged as JSON (logger ``alexandrite.audit``) for log shipping, and the
chain's head is anchored outside the database (``audit_anchor``) so that ``verify`` sees the
newest rows deleted. Text is stored with control characters escaped (``\\x00``): a NUL byte in a
path or a user name is recorded, not a reason for the write to fail.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import AsyncIterator
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from alexandrite.gateway.audit_anchor import Anchor, AnchorFile
from alexandrite.gateway.audit_chain import GENESIS, ChainReport, ChainVerifier, row_hash
from alexandrite.gateway.store import AuditRow

__all__ = ["AuditEntry", "AuditLog", "printable", "row_dict"]

_log = logging.getLogger("alexandrite.audit")
# pg_advisory_xact_lock key for audit appends ("alxa" in ASCII).
_LOCK_KEY = 0x616C7861
_BATCH = 2000
# PostgreSQL text cannot hold NUL; the other control characters would garble a terminal.
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


@dataclass(frozen=True)
class AuditEntry:
    action: str
    result: str
    status_code: int | None = None
    actor: str | None = None
    role: str | None = None
    method: str | None = None
    path: str | None = None
    trace_id: str | None = None
    order_id: str | None = None
    client: str | None = None
    user_agent: str | None = None
    detail: str | None = None


def row_dict(row: AuditRow) -> dict[str, Any]:
    return {column.name: getattr(row, column.name) for column in AuditRow.__table__.columns}


def printable(text: str) -> str:
    """`text` with control characters (NUL included) written as ``\\xNN``."""
    return _CONTROL.sub(lambda match: f"\\x{ord(match.group(0)):02x}", text)


def _truncate(entry: AuditEntry) -> dict[str, Any]:
    limits = {
        "actor": 64,
        "role": 128,
        "action": 64,
        "method": 16,
        "trace_id": 32,
        "order_id": 64,
        "result": 32,
        "client": 64,
    }
    values = asdict(entry)
    for name, value in values.items():
        if isinstance(value, str):
            values[name] = printable(value)
    for name, limit in limits.items():
        if isinstance(values[name], str):
            values[name] = values[name][:limit]
    for name in ("path", "user_agent", "detail"):
        if isinstance(values[name], str):
            values[name] = values[name][:2000]
    return values


class AuditLog:
    def __init__(
        self, sessions: async_sessionmaker[AsyncSession], anchors: AnchorFile | None = None
    ) -> None:
        self._sessions = sessions
        self.anchors = anchors

    async def append(self, entry: AuditEntry, *, anchor: bool = False) -> AuditRow:
        """Write one entry (committed when this returns) and log it.

        Its hash is anchored when the anchor file wants this row, or always with `anchor`
        (rare writers such as the CLI, which run no periodic anchoring).
        """
        values = _truncate(entry)
        async with self._sessions() as session, session.begin():
            await session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _LOCK_KEY})
            last = (
                await session.execute(
                    select(AuditRow.seq, AuditRow.hash).order_by(AuditRow.seq.desc()).limit(1)
                )
            ).first()
            seq, prev_hash = (last[0] + 1, last[1]) if last is not None else (1, GENESIS)
            # Microseconds: what PostgreSQL keeps, so the hash reads back the same.
            values |= {"seq": seq, "at": datetime.now(UTC), "prev_hash": prev_hash}
            values["hash"] = row_hash(values)
            row = AuditRow(**values)
            session.add(row)
        _log.info(
            "audit %s %s",
            entry.action,
            entry.result,
            extra={"audit": {**values, "at": values["at"].isoformat()}},
        )
        if self.anchors is not None and (anchor or self.anchors.due(seq)):
            self._write_anchor(Anchor(seq, values["hash"]))
        return row

    def _write_anchor(self, anchor: Anchor) -> None:
        assert self.anchors is not None
        try:
            self.anchors.append(anchor)
        except OSError:
            # The row is committed; the next anchor covers it. Loud, because until then a
            # deletion of the newest rows would go unseen.
            _log.exception("could not write the audit anchor to %s", self.anchors.path)

    async def anchor_head(self) -> None:
        """Anchor the current head (no-op when it is already the last anchor written)."""
        if self.anchors is None:
            return
        last = await self.tail(1)
        if last:
            self._write_anchor(Anchor(last[-1].seq, last[-1].hash))

    async def keep_anchoring(self, interval_s: float) -> None:
        """Anchor the head now and then every `interval_s` seconds, until cancelled."""
        while True:
            try:
                await self.anchor_head()
            except Exception:  # a database blip must not end the loop
                _log.warning("could not read the audit head to anchor it", exc_info=True)
            await asyncio.sleep(interval_s)

    async def rows(self, after_seq: int = 0) -> AsyncIterator[AuditRow]:
        """Every row after `after_seq`, in order, read in batches."""
        last = after_seq
        while True:
            async with self._sessions() as session:
                batch = list(
                    (
                        await session.scalars(
                            select(AuditRow)
                            .where(AuditRow.seq > last)
                            .order_by(AuditRow.seq)
                            .limit(_BATCH)
                        )
                    ).all()
                )
            for row in batch:
                yield row
            if len(batch) < _BATCH:
                return
            last = batch[-1].seq

    async def tail(self, count: int) -> list[AuditRow]:
        async with self._sessions() as session:
            rows = (
                await session.scalars(select(AuditRow).order_by(AuditRow.seq.desc()).limit(count))
            ).all()
        return list(reversed(rows))

    async def verify(self, anchor: tuple[int, str] | None = None) -> ChainReport:
        """Check the whole chain against itself and the anchor file; with `anchor` (seq, hash),
        also that this row still is."""
        verifier = ChainVerifier()
        anchored: str | None = None
        recorded = self.anchors.read() if self.anchors is not None else {}
        async for row in self.rows():
            values = row_dict(row)
            verifier.feed([values])
            if verifier.broken:
                break
            if anchor is not None and row.seq == anchor[0]:
                anchored = row.hash
            expected = recorded.get(row.seq) if recorded else None
            if expected is not None and expected != row.hash:
                return _broken(
                    verifier.report(),
                    row.seq,
                    f"its hash differs from the one anchored outside the database ({expected}):"
                    " rows were deleted and the sequence reused, or the chain rewritten",
                )
        report = verifier.report()
        if report.ok and self.anchors is not None:
            if recorded is None and report.rows:
                return _broken(
                    report,
                    report.head_seq,
                    f"no anchor file at {self.anchors.path}: the newest rows cannot be checked",
                )
            newest = max(recorded) if recorded else 0
            if newest > report.head_seq:
                return _broken(
                    report,
                    report.head_seq + 1,
                    f"the table ends at row {report.head_seq} but row {newest} was anchored: "
                    "the newest rows were deleted",
                )
        if report.ok and anchor is not None and anchored != anchor[1]:
            found = "missing" if anchored is None else f"hash {anchored}"
            return ChainReport(
                ok=False,
                rows=report.rows,
                head_seq=report.head_seq,
                head_hash=report.head_hash,
                broken_seq=anchor[0],
                reason=f"the anchored row is {found}, expected hash {anchor[1]} "
                "(rows deleted at the end, or the chain rewritten)",
            )
        return report


def _broken(report: ChainReport, seq: int, reason: str) -> ChainReport:
    return ChainReport(
        ok=False,
        rows=report.rows,
        head_seq=report.head_seq,
        head_hash=report.head_hash,
        broken_seq=seq,
        reason=reason,
    )
