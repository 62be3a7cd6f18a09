"""The audit chain's head, written outside the database so that cutting the tail shows.

The hash chain (``audit_chain``) catches a changed or removed row in the middle, but not the
newest rows deleted: what is left is still a valid chain, and the next request reuses the freed
sequence numbers. So the head (``seq``, ``hash``) is appended, one JSON line each, to a file
outside the database: after every ``every_rows``-th row and, for a quiet log, every
``interval_s`` seconds when the head moved. ``verify`` then demands that every anchored row is
still in the table with the same hash, and that the table reaches the newest anchor:

- newest rows deleted → the table stops before the last anchor;
- rows deleted and the sequence reused → an anchored row has another hash.

Rows written after the last anchor (at most ``every_rows`` rows or ``interval_s`` seconds) are
covered by the JSON log only. The file is opened with O_APPEND and never rewritten; someone
who holds the database password but not this machine cannot reach it. Ship it (or the log)
to another machine to protect it from root on this one.
"""

from __future__ import annotations

import json
import logging
import os
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

__all__ = ["Anchor", "AnchorFile"]

_log = logging.getLogger(__name__)
# One line is ~120 bytes; a longer one is not ours.
_MAX_LINE = 1024


@dataclass(frozen=True)
class Anchor:
    seq: int
    hash: str


class AnchorFile:
    """Appends anchors to `path` and reads them back (the newest hash of each seq wins)."""

    def __init__(self, path: Path, every_rows: int = 50) -> None:
        self.path = path
        self.every_rows = every_rows
        self._last_seq = 0

    def due(self, seq: int) -> bool:
        """Whether the row `seq` just written must be anchored now."""
        return seq % self.every_rows == 0

    def append(self, anchor: Anchor) -> None:
        """Append one line, unless this head is already the last one written here."""
        if anchor.seq == self._last_seq:
            return
        line = json.dumps(
            {"seq": anchor.seq, "hash": anchor.hash, "at": datetime.now(UTC).isoformat()},
            separators=(",", ":"),
        )
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        try:
            # One write of one short line with O_APPEND: concurrent writers never interleave.
            os.write(fd, (line + "\n").encode())
        finally:
            os.close(fd)
        self._last_seq = anchor.seq

    def read(self) -> dict[int, str] | None:
        """Every anchored seq and its hash; None when the file does not exist."""
        try:
            handle = self.path.open("rb")
        except FileNotFoundError:
            return None
        anchors: dict[int, str] = {}
        with handle:
            for number, raw in enumerate(handle, start=1):
                try:
                    if len(raw) > _MAX_LINE:
                        raise ValueError("line too long")
                    item = json.loads(raw)
                    seq, digest = int(item["seq"]), str(item["hash"])
                except (ValueError, KeyError, TypeError):
                    _log.warning("%s line %d is not an anchor: ignored", self.path, number)
                    continue
                previous = anchors.get(seq)
                if previous is not None and previous != digest:
                    # Two heads for one seq: the chain was cut and regrown. Keep the first,
                    # the one written before the cut.
                    continue
                anchors[seq] = digest
        return anchors
