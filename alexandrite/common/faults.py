"""Named faults, switched on and off at run time for rehearsals, without a restart.

The CLI (``alexandrite faults set NAME=VALUE``) writes ``<state>/run/faults.json`` atomically;
every service holds a ``Faults`` reader that re-reads the file when it changed (looked at no more
than every 0.5 s, so a check costs nothing on the request path). A missing file means no faults.

    slow_analysis=SECONDS     files: extra delay inside the model analysis span
    mes_failure_rate=0..1     mes: overrides the simulated printers' failure rate
    crm_error_rate=0..1       crm: that share of API requests answer 503, and of events raise
    consumer_paused=SERVICE   that service's consumer stops taking messages (e.g. ``mes``)
    db_latency_ms=N           every service: N ms of wait before each unit of work's transaction
    poison_message=QUEUE      CLI only, one-shot: a malformed message for QUEUE (never stored)
"""

from __future__ import annotations

import json
import logging
import os
import random
import tempfile
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

from opentelemetry import trace

from alexandrite.common.errors import DependencyFailed

__all__ = [
    "FAULTS",
    "SERVICE_NAMES",
    "FaultSpec",
    "FaultValue",
    "Faults",
    "InjectedFault",
    "InvalidFault",
    "note_injected",
    "parse_fault",
    "read_faults_file",
    "write_faults_file",
]

_log = logging.getLogger(__name__)

FaultValue = float | int | str

# Short names (as in ``consumer_paused=mes``) of the services, and their service.name.
SERVICE_NAMES = {
    "shop": "shop-api",
    "crm": "crm-api",
    "mes": "mes-api",
    "files": "file-storage",
    "notifier": "notifier",
    "gateway": "support-gateway",
}


class InvalidFault(ValueError):
    """A fault name or value the platform does not know; the message says what would do."""


class InjectedFault(DependencyFailed):
    """The failure a fault asked for: answered 503 like a dependency that is down."""

    title = "Injected fault"
    type_slug = "injected-fault"


def _number(low: float, high: float, integer: bool = False) -> Callable[[str], FaultValue]:
    def parse(raw: str) -> FaultValue:
        try:
            value: float | int = int(raw) if integer else float(raw)
        except ValueError:
            kind = "a whole number" if integer else "a number"
            raise InvalidFault(f"{raw!r} is not {kind}") from None
        if not low <= value <= high:
            raise InvalidFault(f"{raw} is outside {low:g}..{high:g}")
        return value

    return parse


def _services(raw: str) -> FaultValue:
    names = [name.strip() for name in raw.split(",") if name.strip()]
    known = {**{short: short for short in SERVICE_NAMES}}
    known.update({full: short for short, full in SERVICE_NAMES.items()})
    unknown = [name for name in names if name not in known]
    if not names or unknown:
        raise InvalidFault(
            f"{raw!r} names no known service; use one or more of {', '.join(SERVICE_NAMES)}"
        )
    return ",".join(sorted({known[name] for name in names}))


def _queue(raw: str) -> FaultValue:
    if not raw.strip():
        raise InvalidFault("give the queue to poison, e.g. poison_message=crm.events")
    return raw.strip()


@dataclass(frozen=True)
class FaultSpec:
    name: str
    help: str
    parse: Callable[[str], FaultValue]
    # One-shot faults are acted on by the CLI and never written to the file.
    stored: bool = True


_RATE = _number(0, 1)
FAULTS: dict[str, FaultSpec] = {
    spec.name: spec
    for spec in (
        FaultSpec("slow_analysis", "SECONDS of extra model analysis time", _number(0, 3600)),
        FaultSpec("mes_failure_rate", "0..1 share of simulated prints that fail", _RATE),
        FaultSpec("crm_error_rate", "0..1 share of CRM requests and events that fail", _RATE),
        FaultSpec("consumer_paused", "SERVICE[,SERVICE] whose consumer stops", _services),
        FaultSpec("db_latency_ms", "N ms before each transaction", _number(0, 60000, True)),
        FaultSpec("poison_message", "QUEUE to send one malformed message", _queue, stored=False),
    )
}


def parse_fault(name: str, raw: object) -> FaultValue:
    """The value of fault ``name`` from text (the CLI) or JSON (the file); ``InvalidFault``."""
    spec = FAULTS.get(name)
    if spec is None:
        raise InvalidFault(f"unknown fault {name!r}; known: {', '.join(FAULTS)}")
    if isinstance(raw, bool) or not isinstance(raw, str | int | float):
        raise InvalidFault(f"{name}: {raw!r} is not a value")
    try:
        return spec.parse(str(raw))
    except InvalidFault as exc:
        raise InvalidFault(f"{name}: {exc} ({spec.help})") from None


def read_faults_file(path: Path) -> dict[str, FaultValue]:
    """The faults in the file, validated; {} when it does not exist. Raises on a broken file."""
    try:
        raw = json.loads(path.read_text())
    except FileNotFoundError:
        return {}
    if not isinstance(raw, dict):
        raise InvalidFault(f"{path} holds no JSON object")
    return {name: parse_fault(name, value) for name, value in raw.items()}


def write_faults_file(path: Path, faults: Mapping[str, FaultValue]) -> None:
    """Replace the file in one step: a service never reads half of it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    descriptor, temporary = tempfile.mkstemp(prefix=".faults-", dir=path.parent)
    try:
        with os.fdopen(descriptor, "w") as file:
            json.dump(dict(sorted(faults.items())), file, indent=2)
            file.write("\n")
        os.chmod(temporary, 0o644)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def note_injected(name: str, value: FaultValue) -> None:
    """Say on the current span that a fault acted here, so a trace does not mislead."""
    trace.get_current_span().add_event("fault.injected", {"fault.name": name, "fault.value": value})


class Faults:
    """The faults in effect for a service, read from ``path`` (None: never any)."""

    def __init__(
        self,
        path: Path | None,
        check_interval_s: float = 0.5,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.path = path
        self._check_interval_s = check_interval_s
        self._clock = clock
        self._next_check = float("-inf")
        self._signature: tuple[int, int, int] | None = None
        self._active: dict[str, FaultValue] = {}

    def current(self) -> dict[str, FaultValue]:
        self._refresh()
        return dict(self._active)

    def _refresh(self) -> None:
        now = self._clock()
        if self.path is None or now < self._next_check:
            return
        self._next_check = now + self._check_interval_s
        try:
            stat = self.path.stat()
        except FileNotFoundError:
            self._signature, self._active = None, {}
            return
        # A replaced file has a new inode even when written within the same mtime tick.
        signature = (stat.st_mtime_ns, stat.st_size, stat.st_ino)
        if signature == self._signature:
            return
        self._signature = signature
        try:
            raw = json.loads(self.path.read_text())
            if not isinstance(raw, dict):
                raise ValueError("not a JSON object")
        except (OSError, ValueError) as exc:
            # A hand edit gone wrong: keep what was in effect rather than guess.
            _log.warning("ignoring the faults file %s: %s", self.path, exc)
            return
        active: dict[str, FaultValue] = {}
        for name, value in raw.items():
            try:
                active[name] = parse_fault(name, value)
            except InvalidFault as exc:
                _log.warning("ignoring a fault in %s: %s", self.path, exc)
        if active != self._active:
            _log.warning("faults in effect: %s", active or "none")
        self._active = active

    def _number(self, name: str) -> float | None:
        value = self.current().get(name)
        return float(value) if isinstance(value, int | float) else None

    @property
    def slow_analysis_s(self) -> float:
        return self._number("slow_analysis") or 0.0

    @property
    def mes_failure_rate(self) -> float | None:
        return self._number("mes_failure_rate")

    @property
    def crm_error_rate(self) -> float:
        return self._number("crm_error_rate") or 0.0

    @property
    def db_latency_s(self) -> float:
        return (self._number("db_latency_ms") or 0.0) / 1000

    def db_wait_s(self) -> float:
        """The db_latency_ms wait, noted on the current span when there is one."""
        delay = self.db_latency_s
        if delay > 0:
            note_injected("db_latency_ms", round(delay * 1000))
        return delay

    def consumer_paused(self, service_name: str) -> bool:
        """Whether ``consumer_paused`` names this service (by short name or service.name)."""
        value = self.current().get("consumer_paused")
        if not isinstance(value, str):
            return False
        return any(service_name in (short, SERVICE_NAMES.get(short)) for short in value.split(","))

    @staticmethod
    def strikes(rate: float) -> bool:
        """Draw whether an event with probability ``rate`` happens this time."""
        return rate > 0 and random.random() < rate
